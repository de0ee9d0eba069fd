"""Clusters shared by the tests of one process: forming one takes ~2 s (Redis holds a
fresh master back for 2 s before it serves), so each kind is started once per process
(xdist worker) and flushed between uses."""

from __future__ import annotations

import atexit
import functools

import pytest

from memfix.servers import Cluster, ClusterSpec, discover


def cluster_specs() -> list[ClusterSpec]:
    """The oldest Redis (ADDSLOTS: 6.2 has no ADDSLOTSRANGE) and the newest Valkey."""
    local = discover(docker=False)
    redis = [s for s in local if s.product == "redis"][:1]
    valkey = [s for s in local if s.product == "valkey"][-1:]
    return [ClusterSpec(s) for s in redis + valkey]


def cluster_params() -> list[object]:
    specs = cluster_specs()
    params: list[object] = [pytest.param(s, id=s.id) for s in specs]
    if len(specs) < 2:
        reason = "a cluster of each product needs a local Redis and a local Valkey"
        params.append(pytest.param(None, id="cluster-missing", marks=pytest.mark.skip(reason)))
    return params


@functools.cache
def shared_cluster(spec: ClusterSpec) -> Cluster:
    cluster = spec.start()
    atexit.register(cluster.stop)
    return cluster


def clean_cluster(spec: ClusterSpec) -> Cluster:
    """The shared cluster of ``spec``, empty (restarted if a test broke it)."""
    cluster = shared_cluster(spec)
    if not cluster.is_running:
        cluster.stop()
        shared_cluster.cache_clear()
        cluster = shared_cluster(spec)
    cluster.flush()
    return cluster
