"""Goldens on a cluster: every committed golden, restored *through* a cluster formed
first (a standalone RDB cannot be loaded into a cluster node), reads exactly as on a
standalone server and as its committed snapshot says.

Two restores: the JSON dump replayed through ``RedisCluster`` (``restore_dump``),
and the binary golden loaded by a standalone server of the cluster's version, then
moved key by key with DUMP/RESTORE (the server's own encoding, no replay).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from redis.cluster import RedisCluster

from memfix import Message, RedisMemoryStore
from memfix.goldens import Golden, find_goldens, golden_view, restore_dump
from memfix.goldens.view import encode_view
from memfix.servers import Cluster, ClusterSpec, default_spec, rdb_header
from tests.cluster_support import clean_cluster, cluster_params

ROOT = Path(__file__).resolve().parent.parent
GOLDENS = find_goldens(ROOT / "golden")
SNAPSHOTS = Path(__file__).parent / "__snapshots__" / "test_goldens"


def dump_restore(source: redis.Redis, target: RedisCluster) -> int:
    """Move every key of ``source`` into ``target`` with DUMP/RESTORE (TTLs kept)."""
    moved = 0
    for key in source.scan_iter(count=1000):
        payload = source.dump(key)
        ttl = int(source.pttl(key))
        target.restore(key, max(ttl, 0), payload)  # type: ignore[arg-type]
        moved += 1
    return moved


def standalone_view(golden: Golden) -> dict[str, Any]:
    with default_spec().start() as server:
        restore_dump(golden.dump, server.client)
        return golden_view(server.client)


def snapshot_view(golden: Golden) -> dict[str, Any]:
    path = SNAPSHOTS / f"{golden.version}.json"
    view: dict[str, Any] = msgspec.json.decode(path.read_bytes())
    return view


@pytest.fixture(params=cluster_params())
def cluster(request: pytest.FixtureRequest) -> Cluster:
    spec: ClusterSpec = request.param
    return clean_cluster(spec)


@pytest.fixture(params=GOLDENS, ids=[g.version for g in GOLDENS])
def golden(request: pytest.FixtureRequest) -> Golden:
    value: Golden = request.param
    return value


def test_there_are_goldens() -> None:
    assert len(GOLDENS) >= 5 and all(g.version for g in GOLDENS)


def test_json_golden_through_a_cluster_reads_as_standalone(
    cluster: Cluster, golden: Golden
) -> None:
    stats = restore_dump(golden.dump, cluster.client)  # type: ignore[arg-type]
    assert stats.keys == len(golden.dump.keys) > 0
    # the keys are really spread over the masters
    assert sum(1 for m in cluster.masters if m.client.dbsize()) > 1
    view = golden_view(cluster.client)  # type: ignore[arg-type]
    assert view["sessions"], "a golden without sessions checks nothing"
    assert encode_view(view) == encode_view(standalone_view(golden))
    assert view == snapshot_view(golden)


def test_rdb_golden_moved_by_dump_restore_reads_as_standalone(
    cluster: Cluster, golden: Golden
) -> None:
    node = cluster.spec.node
    if not node.can_load(rdb_header(golden.rdb_path)):
        pytest.skip(f"{node.id} cannot load golden {golden.version}'s RDB")
    with node.start(dump=golden.rdb_path) as source:
        moved = dump_restore(source.client, cluster.client)
    assert moved == len(golden.dump.keys)
    assert golden_view(cluster.client) == snapshot_view(golden)  # type: ignore[arg-type]


def test_a_changed_record_on_the_cluster_shows_in_the_view(cluster: Cluster) -> None:
    """The comparison can fail: one record altered through the cluster changes the view."""
    golden = GOLDENS[-1]
    restore_dump(golden.dump, cluster.client)  # type: ignore[arg-type]
    view = golden_view(cluster.client)  # type: ignore[arg-type]
    assert view == snapshot_view(golden)
    sid = sorted(view["sessions"])[0]
    with RedisMemoryStore(cluster.new_client()) as store:
        store.delete_session(sid)
        store.append_message(sid, Message("user", "tampered", 1.0))
    assert golden_view(cluster.client) != snapshot_view(golden)  # type: ignore[arg-type]
