"""RedisMemoryStore on a Redis Cluster (redis-py ``RedisCluster``): the reusable
contract with its concurrency runs, slot locality, and sessions on every master.

One cluster per kind and process (forming one takes ~2 s), flushed before each test.
"""

from __future__ import annotations

import pytest

from memfix import Message, RedisMemoryStore
from memfix.servers import ClusterSpec
from memfix.testing import MemoryStoreContract, RedisStoreFactory
from tests.cluster_support import clean_cluster, cluster_params


@pytest.fixture(params=cluster_params())
def cluster_spec(request: pytest.FixtureRequest) -> ClusterSpec:
    value: ClusterSpec = request.param
    return value


class TestClusterContract(MemoryStoreContract):
    @pytest.fixture
    def make_store(self, cluster_spec: ClusterSpec) -> RedisStoreFactory:
        return RedisStoreFactory(clean_cluster(cluster_spec).url, cluster=True)


def test_sessions_walks_every_master(cluster_spec: ClusterSpec) -> None:
    cluster = clean_cluster(cluster_spec)
    ids = [f"user-{i}" for i in range(30)]
    with RedisMemoryStore(cluster.new_client()) as store:
        for sid in ids:
            store.append_message(sid, Message("user", sid, 1.0))
        # the check can fail: a store on one master alone sees only that master's sessions
        per_master = []
        for master in cluster.masters:
            with RedisMemoryStore(master.new_client()) as alone:
                per_master.append(alone.sessions())
        assert all(per_master) and all(len(seen) < len(ids) for seen in per_master)
        assert sorted(s for seen in per_master for s in seen) == sorted(ids)
        assert store.sessions() == sorted(ids)


@pytest.mark.parametrize("sid", ["plain", "with:colons", "{tagged}:a", "ünï", "{a}{b}"])
def test_every_key_of_a_session_is_in_one_slot(cluster_spec: ClusterSpec, sid: str) -> None:
    cluster = clean_cluster(cluster_spec)
    with RedisMemoryStore(cluster.new_client(), ttl=60, max_messages=5) as store:
        m = Message("user", "hi", 1.0)
        store.append_messages(sid, [m, Message("assistant", "yo", 2.0)])
        store.append_message(sid, m)  # a retry: the id set is consulted
        store.compact(
            sid, 1, Message("system", "summary", 0.0), seen=store.get_history(sid, limit=None)
        )
        keys = [k for master in cluster.masters for k in master.client.keys("*")]
        assert keys and all(sid.encode() in k for k in keys), keys
        slots = {cluster.client.keyslot(k) for k in keys}  # type: ignore[no-untyped-call]
        assert len(slots) == 1, (keys, slots)
        assert store.delete_session(sid) is True
        assert not [k for master in cluster.masters for k in master.client.keys("*")]
