"""Throwaway Redis/Valkey clusters from the same plain binaries (or images) as one server.

A cluster is N cluster-enabled nodes started in parallel, each master given a
contiguous slot range (``CLUSTER ADDSLOTSRANGE`` on 7.0+, ``ADDSLOTS`` on 6.2, which
lacks it), its own config epoch, then joined with ``CLUSTER MEET``; replicas attach
with ``CLUSTER REPLICATE``. It is ready when every node reports ``cluster_state:ok``
with all 16384 slots, knows every other node, and every replica's link is up.
Everything binds 127.0.0.1; a node's bus is on port + 10000, which the port probe
checks too, so clusters of parallel xdist workers do not collide.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster

from .discovery import discover
from .errors import ServerError, ServerNotFound, ServerStartError
from .handle import Server
from .plumbing import HOST
from .spec import Persistence, RdbHeader, ServerSpec

__all__ = [
    "SLOTS",
    "AnySpec",
    "Cluster",
    "ClusterSpec",
    "cluster_specs",
    "select_cluster",
    "standalone_of",
]

SLOTS = 16384
READY_TIMEOUT = 20.0
_POLL_S = 0.005


@dataclass(frozen=True)
class ClusterSpec:
    """A cluster that can be started: ``masters`` nodes of ``node``'s kind, each with
    ``replicas`` replicas. ``node_timeout_ms`` is how long a master may be silent
    before its replica takes over (Redis' ``cluster-node-timeout``; failover tests
    lower it)."""

    node: ServerSpec
    masters: int = 3
    replicas: int = 0
    node_timeout_ms: int = 2000

    @property
    def backend(self) -> str:
        return "cluster"

    @property
    def id(self) -> str:
        return f"cluster-{self.node.id}"

    @property
    def product(self) -> str:
        return self.node.product

    @property
    def version(self) -> str:
        return self.node.version

    @property
    def source(self) -> str:
        return self.node.source

    @property
    def rdb_header(self) -> RdbHeader:
        return self.node.rdb_header

    @property
    def location(self) -> str:
        replicas = f" + {self.masters * self.replicas} replicas" if self.replicas else ""
        return f"{self.masters} masters{replicas} of {self.node.location}"

    def can_load(self, header: RdbHeader) -> bool:
        """Whether a golden's RDB can reach this cluster: a standalone node of the same
        kind loads it, then its keys move over with DUMP/RESTORE."""
        return self.node.can_load(header)

    @property
    def has_addslotsrange(self) -> bool:
        """``CLUSTER ADDSLOTSRANGE`` came with Redis 7.0 (Valkey has it from its first release)."""
        return self.product == "valkey" or self.node.version_tuple >= (7, 0)

    def start(self) -> Cluster:
        """Start the nodes, assign slots, join them; returns when the cluster serves."""
        if self.masters < 1 or self.replicas < 0:
            raise ServerError(f"{self.id}: needs at least one master, got {self.masters}")
        if self.node.version_tuple < (3, 0) and self.product == "redis":
            raise ServerError(f"{self.id}: Redis {self.version} has no cluster mode")
        return Cluster.launch(self)


AnySpec = ServerSpec | ClusterSpec
"""What a golden case runs on: one server, or a cluster of one server kind."""


def standalone_of(spec: AnySpec) -> ServerSpec:
    """The one-server kind of ``spec`` (a cluster's node spec), for what needs one server."""
    return spec.node if isinstance(spec, ClusterSpec) else spec


def cluster_specs(specs: Sequence[ServerSpec]) -> list[ClusterSpec]:
    """A 3-master cluster spec for each startable server spec (every 6.0+ server)."""
    return [ClusterSpec(s) for s in specs if s.backend in ("local", "docker")]


def select_cluster(query: str, specs: Sequence[ServerSpec] | None = None) -> ClusterSpec:
    """``cluster-redis-7.0.15``, ``cluster-valkey-9``, ``cluster-redis``: the oldest match
    among ``specs`` (default: every server ``discover()`` finds)."""
    if specs is None:
        specs = discover(docker=query.startswith("cluster-docker"))
    for spec in cluster_specs(specs):
        if spec.id == query or spec.id.startswith((query + ".", query + "-")):
            return spec
    available = ", ".join(s.id for s in cluster_specs(specs)) or "none"
    raise ServerNotFound(f"no cluster matches {query!r}; available: {available}")


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(len(items), 16)) as pool:
        return list(pool.map(fn, items))


def _execute(client: redis.Redis, *args: Any) -> Any:
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _cluster_info(client: redis.Redis) -> dict[str, str]:
    reply = _execute(client, "CLUSTER INFO")  # redis-py parses it into a dict
    return {str(k): str(v) for k, v in reply.items()}


class Cluster:
    """A running throwaway cluster: its nodes (``masters``, ``replicas``) and clients.

    ``client`` is a shared ``redis.cluster.RedisCluster`` (bytes replies);
    ``new_client()`` makes more. ``flush()`` empties every master, so one cluster
    can serve several tests; ``stop()`` kills every node and removes their files.
    """

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self.masters: list[Server] = []
        self.replicas: list[Server] = []  # replicas[i] belong to masters[i // replicas]
        self.ids: dict[Server, str] = {}
        self.started_in_s = 0.0
        self._client: RedisCluster | None = None
        self._closed = False

    @property
    def nodes(self) -> list[Server]:
        return [*self.masters, *self.replicas]

    @classmethod
    def launch(cls, spec: ClusterSpec) -> Cluster:
        began = time.monotonic()
        cluster = cls(spec)
        try:
            cluster._form()
        except BaseException:
            cluster.stop()
            raise
        cluster.started_in_s = time.monotonic() - began
        return cluster

    def _node_args(self) -> list[str]:
        return [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.spec.node_timeout_ms),
            # a replica may always take over, however long its link was down
            "--cluster-replica-validity-factor", "0",
            # 7.0+ syncs replicas diskless and waits 5 s for more replicas first
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip

    def _start_node(self, _: int) -> Server:
        return self.spec.node.start(persistence=Persistence.NONE, server_args=self._node_args())

    def _form(self) -> None:
        spec = self.spec
        total = spec.masters * (1 + spec.replicas)
        started: list[Server] = []
        try:
            started = _parallel(self._start_node, list(range(total)))
        finally:  # a node that started while another failed is still stopped by stop()
            self.masters, self.replicas = started[: spec.masters], started[spec.masters :]
        for node in self.nodes:
            self.ids[node] = self._command(node, "CLUSTER MYID").decode()
        per = SLOTS // spec.masters
        for i, master in enumerate(self.masters):
            first, last = i * per, (SLOTS - 1 if i == spec.masters - 1 else (i + 1) * per - 1)
            if spec.has_addslotsrange:
                self._command(master, "CLUSTER ADDSLOTSRANGE", first, last)
            else:
                self._command(master, "CLUSTER ADDSLOTS", *range(first, last + 1))
        # Distinct epochs up front spare the nodes a collision-resolution round.
        for epoch, node in enumerate(self.nodes, start=1):
            self._command(node, "CLUSTER SET-CONFIG-EPOCH", epoch)
        first_node = self.nodes[0]
        for node in self.nodes[1:]:
            self._command(first_node, "CLUSTER MEET", HOST, node.port)
        self._wait("every node to know every other", self._all_known)
        for j, replica in enumerate(self.replicas):
            master = self.masters[j // spec.replicas]
            self._command(replica, "CLUSTER REPLICATE", self.ids[master])
        self._wait("cluster_state:ok on every node", self._serving)

    def _command(self, node: Server, *args: Any) -> Any:
        try:
            return _execute(node.client, *args)
        except redis.RedisError as exc:
            raise ServerStartError(f"{self.spec.id}: {args[0]} on {node.url}: {exc}") from None

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                states = "; ".join(f"{n.url}: {self._state(n)}" for n in self.nodes)
                raise ServerStartError(
                    f"{self.spec.id}: no {what} after {timeout:.0f} s ({states})"
                )
            time.sleep(_POLL_S)

    def _state(self, node: Server) -> str:
        try:
            return _cluster_info(node.client).get("cluster_state", "?")
        except redis.RedisError as exc:
            return str(exc)

    def _known(self, node: Server) -> int:
        """Nodes that ``node`` knows by id (handshakes done); redis-py parses CLUSTER NODES."""
        reply: dict[str, dict[str, Any]] = _execute(node.client, "CLUSTER NODES")
        return sum(1 for entry in reply.values() if "handshake" not in entry["flags"])

    def _all_known(self) -> bool:
        return all(self._known(n) == len(self.nodes) for n in self.nodes)

    def _serving(self) -> bool:
        for node in self.nodes:
            info = _cluster_info(node.client)
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != str(SLOTS):
                return False
            if info.get("cluster_known_nodes") != str(len(self.nodes)):
                return False
        for replica in self.replicas:
            if replica.client.info("replication").get("master_link_status") != "up":
                return False
        return True

    # -- clients ------------------------------------------------------------
    @property
    def url(self) -> str:
        """A node URL; ``RedisCluster.from_url(url)`` discovers the rest."""
        return self.masters[0].url

    @property
    def startup_nodes(self) -> list[ClusterNode]:
        return [
            ClusterNode(n.host, n.port)  # type: ignore[no-untyped-call]
            for n in self.nodes
            if n.is_running
        ]

    @property
    def client(self) -> RedisCluster:
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self, **kwargs: Any) -> RedisCluster:
        """A new ``RedisCluster`` on these nodes; keyword arguments go to its constructor."""
        kwargs.setdefault("decode_responses", False)
        kwargs.setdefault("socket_connect_timeout", 5)
        return RedisCluster(startup_nodes=self.startup_nodes, **kwargs)

    def info(self) -> dict[str, Any]:
        """``INFO server`` of the first master."""
        result: dict[str, Any] = self.masters[0].client.info("server")
        return result

    def flush(self) -> None:
        """Empty every master (replicas follow): a clean cluster for the next test."""
        for master in self.masters:
            if master.is_running:
                master.client.flushall()
        self.wait_replicated()

    def wait_replicated(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until every live replica has what its master wrote (WAIT on each master)."""
        if not self.spec.replicas:
            return
        for master in self.masters:
            if master.is_running and master.client.info("replication").get("role") == "master":
                _execute(master.client, "WAIT", self.spec.replicas, int(timeout * 1000))

    # -- failover -----------------------------------------------------------
    def kill_master(self, index: int = 0) -> Server:
        """SIGKILL ``masters[index]`` (a crash); its replica takes over after the node timeout."""
        victim = self.masters[index]
        victim.kill()
        return victim

    def wait_for_failover(self, dead: Server, timeout: float = READY_TIMEOUT) -> Server:
        """Wait until a replica of ``dead`` is master and the cluster serves every slot again."""
        candidates = [r for r in self.replicas if r.is_running]
        promoted: list[Server] = []

        def done() -> bool:
            promoted[:] = [
                r for r in candidates if r.client.info("replication").get("role") == "master"
            ]
            return bool(promoted) and all(
                _cluster_info(r.client).get("cluster_state") == "ok" for r in candidates
            )

        self._wait(f"failover of {dead.url}", done, timeout)
        new_master = promoted[0]
        self.masters[self.masters.index(dead)] = new_master
        self.replicas.remove(new_master)
        if self._client is not None:  # let the client re-read the slot map
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        return new_master

    # -- lifecycle ------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return not self._closed and all(n.is_running for n in self.masters)

    def stop(self) -> None:
        """Kill every node and remove its files (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        for node in self.nodes:  # SIGKILL: ~1 ms each; no threads (may run at exit)
            node.stop()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        shape = f"{len(self.masters)} masters, {len(self.replicas)} replicas"
        return f"<Cluster {self.spec.id} {self.url} ({shape}) {state}>"
