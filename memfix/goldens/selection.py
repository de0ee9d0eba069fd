"""Which servers a golden run uses: one policy for the CLI, the plugin, the bench and tests.

Explicit choices win (``--server``/``--memfix-server``, each resolved by
:func:`memfix.servers.select_spec`); ``every`` asks for every server this
machine can start (the plugin's default: the whole matrix); otherwise the
default server alone (the oldest local one, whose dumps every newer one loads).

Golden cases may also run on clusters (:func:`choose_targets`): a choice named
``cluster-<server id or prefix>`` (``cluster-redis-6.2``, ``cluster-valkey``) is
a 3-master cluster of that kind (:func:`memfix.servers.select_cluster`). They
are never part of the default or of ``every`` (forming one takes ~2 s): they
run when named.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from memfix.servers import (
    AnySpec,
    ServerSpec,
    default_spec,
    discover,
    select_cluster,
    select_spec,
    standalone_of,
)

__all__ = ["CLUSTER_PREFIX", "choose_servers", "choose_targets", "standalone_specs"]

CLUSTER_PREFIX = "cluster-"
_S = TypeVar("_S", bound=AnySpec)


def choose_servers(queries: Sequence[str] = (), *, every: bool = False) -> list[ServerSpec]:
    """The servers to use, deduplicated, in the order given (or discovery order)."""
    if queries:
        specs = [select_spec(q) for q in queries]
    elif every:
        specs = discover()
    else:
        specs = [default_spec()]
    return _unique(specs)


def choose_targets(
    queries: Sequence[str] = (), *, every: bool = False, clusters: Sequence[str] = ()
) -> list[AnySpec]:
    """Servers and clusters for golden cases: ``queries`` may name clusters
    (``cluster-...``); ``clusters`` adds clusters to the servers chosen as
    :func:`choose_servers` would (its ``cluster-`` prefix is optional)."""
    servers = [q for q in queries if not q.strip().startswith(CLUSTER_PREFIX)]
    named = [q.strip() for q in queries if q.strip().startswith(CLUSTER_PREFIX)]
    extra = [c.strip() for c in clusters]
    wanted = named + [c if c.startswith(CLUSTER_PREFIX) else CLUSTER_PREFIX + c for c in extra]
    targets: list[AnySpec] = []
    if servers or not named:  # naming only clusters runs only clusters
        targets += choose_servers(servers, every=every)
    targets += [select_cluster(q) for q in wanted]
    return _unique(targets)


def standalone_specs(targets: Sequence[AnySpec]) -> list[ServerSpec]:
    """One server per kind among ``targets`` (a cluster's node kind), for the checks
    that need a single server (the write side, a plain ``memfix_server``)."""
    return _unique([standalone_of(t) for t in targets])


def _unique(specs: Sequence[_S]) -> list[_S]:
    seen: dict[str, _S] = {}
    for spec in specs:
        seen.setdefault(spec.id, spec)
    return list(seen.values())
