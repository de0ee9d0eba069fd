"""Throwaway clusters from the local binaries: formed, loopback only, flushed, stopped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from memfix.cli import main
from memfix.servers import ClusterSpec, ServerNotFound, default_spec, select_cluster
from memfix.servers.cluster import SLOTS
from tests.cluster_support import cluster_params, shared_cluster


@pytest.fixture(params=cluster_params())
def spec(request: pytest.FixtureRequest) -> ClusterSpec:
    value: ClusterSpec = request.param
    return value


def test_cluster_serves_every_slot_from_three_masters(spec: ClusterSpec) -> None:
    cluster = shared_cluster(spec)
    client = cluster.client
    assert len(client.get_primaries()) == 3  # type: ignore[no-untyped-call]
    info = client.cluster_info()
    assert info["cluster_state"] == "ok" and int(info["cluster_slots_ok"]) == SLOTS
    keys = [f"k{i}".encode() for i in range(60)]
    for key in keys:
        client.set(key, key)
    # the keys really are spread: every master holds some
    counts = [m.client.dbsize() for m in cluster.masters]
    assert all(counts) and sum(counts) == len(keys), counts
    cluster.flush()
    assert [m.client.dbsize() for m in cluster.masters] == [0, 0, 0]


def test_cluster_stays_on_loopback(spec: ClusterSpec) -> None:
    cluster = shared_cluster(spec)
    for node in cluster.nodes:
        assert node.client.config_get("bind")["bind"] == "127.0.0.1"
        addresses = node.client.execute_command("CLUSTER NODES")  # type: ignore[no-untyped-call]
        assert {a.split(":")[0] for a in addresses} == {"127.0.0.1"}, addresses


def test_stop_kills_every_node_and_removes_its_files() -> None:
    cluster = ClusterSpec(default_spec(), masters=3, replicas=1).start()
    assert len(cluster.nodes) == 6 and len(cluster.replicas) == 3
    for replica in cluster.replicas:
        assert replica.client.info("replication")["role"] == "slave"
    pids = [getattr(n, "pid", None) for n in cluster.nodes]
    dirs = [n.data_dir for n in cluster.nodes]
    assert all(pids)
    cluster.stop()
    cluster.stop()  # idempotent
    assert not cluster.is_running
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not any(Path(d).exists() for d in dirs)


def test_select_cluster_and_the_servers_listing() -> None:
    oldest = default_spec()
    assert select_cluster(f"cluster-{oldest.id}").node == oldest
    assert select_cluster("cluster-redis").node.product == "redis"
    with pytest.raises(ServerNotFound, match="available: cluster-"):
        select_cluster("cluster-redis-1.0")
    listing = CliRunner().invoke(main, ["servers", "--no-docker"])
    assert listing.exit_code == 0, listing.output
    assert f"cluster-{oldest.id}" in listing.output
