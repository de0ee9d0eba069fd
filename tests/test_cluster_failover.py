"""Failover: a master SIGKILLed while writers append; acknowledged appends that the
promoted replica does not have are counted (figures print with ``-s``)."""

from __future__ import annotations

import pytest

from memfix.servers import ClusterSpec, default_spec
from memfix.store import RedisMemoryStore
from memfix.testing.failover import (
    FailoverResult,
    count_lost,
    kill_with_lagging_replica,
    run_failover,
)
from tests.cluster_support import cluster_params

NODE_TIMEOUT_MS = 1000  # failure detection; a replica is promoted ~1-2 s after the kill


def _report(label: str, result: FailoverResult) -> None:
    print(f"\nfailover {label}: {result.describe()}")


@pytest.mark.parametrize("spec", cluster_params())
def test_writers_survive_a_master_kill(spec: ClusterSpec) -> None:
    with ClusterSpec(spec.node, replicas=1, node_timeout_ms=NODE_TIMEOUT_MS).start() as cluster:
        result = run_failover(cluster)
        _report(spec.id, result)
        assert result.acknowledged > 0 and result.retried > 0, result.describe()
        assert not (result.duplicated or result.out_of_order), result.describe()
        # the accounting can fail: a session gone from the cluster counts as lost
        sid = next(iter(result.acked))
        with RedisMemoryStore(cluster.new_client()) as store:
            assert count_lost(store, result.acked).lost == result.lost
            store.delete_session(sid)
            assert count_lost(store, result.acked).lost == result.lost + len(result.acked[sid])


@pytest.mark.parametrize("wait_replicas", [0, 1], ids=["no-wait", "wait-1"])
def test_a_lagging_replica_loses_what_wait_did_not_confirm(wait_replicas: int) -> None:
    """Asynchronous replication: acknowledged is not replicated. WAIT 1 after each
    append confirms only what the replica has, and none of that is lost."""
    spec = ClusterSpec(default_spec(), replicas=1, node_timeout_ms=NODE_TIMEOUT_MS)
    with spec.start() as cluster:
        result = run_failover(
            cluster,
            wait_replicas=wait_replicas,
            kill=kill_with_lagging_replica(0.5),
            payload_bytes=20_000,
        )
    _report(f"lagging replica, WAIT {wait_replicas}", result)
    assert result.acknowledged > 0 and not result.duplicated, result.describe()
    if wait_replicas:
        assert result.lost == 0 and result.unconfirmed > 0, result.describe()
    else:
        assert result.lost > 0, result.describe()
