"""Put a golden into a real server, from its RDB file or its JSON dump.

``rdb`` restores always start a fresh server that loads ``dump.rdb`` at start
(what a real upgrade does). ``json`` restores replay ``dump.json``. With a
:class:`ServerPool`, json restores reuse one running server per server kind,
emptied and checked empty before each case, and rdb servers can be started
ahead of their case: what makes a golden run of dozens of cases take about
a second instead of several.

A cluster (:class:`ClusterSpec`) is a target too. A standalone RDB cannot be
loaded into a cluster node, so a golden reaches a cluster formed first: ``json``
replays ``dump.json`` through the cluster client, ``rdb`` has a standalone server
of the cluster's kind load ``dump.rdb`` and moves every key with DUMP/RESTORE
(:func:`move_keys`: the server's own encoding, no replay). Forming a cluster
takes ~2 s, so a pool keeps one per kind, emptied and checked before each case.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import redis

from memfix.errors import GoldenError
from memfix.goldens.dump import KeyspaceDump, key_text, restore_dump
from memfix.goldens.golden import Golden
from memfix.servers import AnySpec, Cluster, ClusterSpec, Server, ServerSpec

__all__ = [
    "RestoreMode",
    "ServerPool",
    "client_of",
    "first_difference",
    "has_functions",
    "move_keys",
    "restored_server",
]


class RestoreMode(str, enum.Enum):
    """``rdb``: the server loads ``dump.rdb`` at start (what a real upgrade does);
    ``json``: ``dump.json`` is replayed command by command (works on any version)."""

    RDB = "rdb"
    JSON = "json"


class ServerPool:
    """One running server per server kind, handed out empty (for json restores).

    Fresh data per case without a fresh process: before each use every
    database is flushed, scripts and functions dropped, and the server must
    then report no key in any database, or it is replaced by a new one.
    """

    def __init__(self) -> None:
        self._servers: dict[str, Server] = {}
        self._clusters: dict[str, Cluster] = {}
        self._prefetched: dict[tuple[str, str], Future[Server]] = {}
        self._executor: ThreadPoolExecutor | None = None

    def prefetch_rdb(self, golden: Golden, spec: ServerSpec) -> None:
        """Start the server of an upcoming rdb case in the background (a server start is
        mostly waiting, so it overlaps with the case running now)."""
        key = (str(golden.rdb_path), spec.id)
        if key in self._prefetched:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memfix-rdb")
        self._prefetched[key] = self._executor.submit(spec.start, dump=golden.rdb_path)

    @contextmanager
    def rdb_server(self, golden: Golden, spec: ServerSpec) -> Iterator[Server]:
        """A fresh server that loaded ``golden``'s RDB (prefetched, or started now)."""
        future = self._prefetched.pop((str(golden.rdb_path), spec.id), None)
        server = future.result() if future is not None else spec.start(dump=golden.rdb_path)
        with server:
            yield server

    @contextmanager
    def empty_server(self, spec: ServerSpec) -> Iterator[Server]:
        server = self._servers.get(spec.id)
        if server is not None and not _emptied(server.client):
            self._discard(spec.id)
            server = None
        if server is None:
            server = spec.start()
            self._servers[spec.id] = server
        try:
            yield server
        except BaseException:
            self._discard(spec.id)  # a case that failed midway may leave anything behind
            raise

    @contextmanager
    def empty_cluster(self, spec: ClusterSpec) -> Iterator[Cluster]:
        """The pool's cluster of ``spec``'s kind, every master emptied and checked empty
        (formed again only when that fails). Unlike a server it is kept after a failed
        case: forming one costs ~2 s, and the emptiness check guards the next case."""
        cluster = self._clusters.get(spec.id)
        if cluster is not None and not _cluster_emptied(cluster):
            self._discard_cluster(spec.id)
            cluster = None
        if cluster is None:
            cluster = spec.start()
            self._clusters[spec.id] = cluster
        yield cluster

    def _discard_cluster(self, spec_id: str) -> None:
        cluster = self._clusters.pop(spec_id, None)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop()

    def _discard(self, spec_id: str) -> None:
        server = self._servers.pop(spec_id, None)
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()

    def close(self) -> None:
        for spec_id in list(self._servers):
            self._discard(spec_id)
        for spec_id in list(self._clusters):
            self._discard_cluster(spec_id)
        for future in self._prefetched.values():
            with contextlib.suppress(Exception):
                future.result().stop()
        self._prefetched.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def _emptied(client: redis.Redis) -> bool:
    try:
        client.flushall()
        client.script_flush()
        with contextlib.suppress(redis.ResponseError):  # no functions before Redis 7
            client.execute_command("FUNCTION", "FLUSH")  # type: ignore[no-untyped-call]
        keyspace = client.info("keyspace")
    except redis.RedisError:
        return False
    return not any(k.startswith("db") for k in keyspace)


def _cluster_emptied(cluster: Cluster) -> bool:
    if not cluster.is_running:
        return False
    emptied = all([_emptied(m.client) for m in cluster.masters])  # every master, always
    if emptied:
        cluster.wait_replicated()
    return emptied


def has_functions(client: redis.Redis) -> bool:
    """Whether the server holds FUNCTION libraries (an RDB golden must not: code, not data)."""
    try:
        return bool(client.execute_command("FUNCTION", "LIST"))  # type: ignore[no-untyped-call]
    except redis.ResponseError:  # before Redis 7: no functions at all
        return False


def move_keys(source: redis.Redis, target: redis.Redis) -> int:
    """Move every key of ``source`` into ``target`` (a cluster client routes each
    key to its slot) with DUMP/RESTORE, TTLs kept; returns how many moved."""
    moved = 0
    for key in source.scan_iter(count=1000):
        payload = source.dump(key)
        if payload is None:  # expired between SCAN and DUMP
            continue
        ttl = int(source.pttl(key))
        target.restore(key, max(ttl, 0), payload)
        moved += 1
    return moved


@contextmanager
def restored_server(
    golden: Golden, spec: AnySpec, mode: RestoreMode, *, pool: ServerPool | None = None
) -> Iterator[Server | Cluster]:
    """A server (or cluster) of ``spec`` holding exactly ``golden``'s data.

    Without ``pool`` the server is fresh and stopped on exit. Raises
    :class:`memfix.servers.DumpTooNewError` (before starting anything) when
    ``mode`` is RDB and the dump is newer than ``spec`` can load.
    """
    if isinstance(spec, ClusterSpec):
        with _restored_cluster(golden, spec, mode, pool=pool) as cluster:
            yield cluster
        return
    if mode is RestoreMode.RDB:
        if pool is not None:
            with pool.rdb_server(golden, spec) as server:
                yield server
            return
        with spec.start(dump=golden.rdb_path) as server:
            yield server
        return
    dump = golden.dump
    if pool is None:
        with spec.start() as server:
            restore_dump(dump, server.client)
            yield server
        return
    with pool.empty_server(spec) as server:
        restore_dump(dump, server.client)
        yield server


@contextmanager
def _restored_cluster(
    golden: Golden, spec: ClusterSpec, mode: RestoreMode, *, pool: ServerPool | None
) -> Iterator[Cluster]:
    with contextlib.ExitStack() as stack:
        if pool is not None:
            cluster = stack.enter_context(pool.empty_cluster(spec))
        else:
            cluster = stack.enter_context(spec.start())
        target = client_of(cluster)
        if mode is RestoreMode.JSON:
            restore_dump(golden.dump, target)
        else:
            source_cm: contextlib.AbstractContextManager[Server] = (
                pool.rdb_server(golden, spec.node)
                if pool is not None
                else spec.node.start(dump=golden.rdb_path)
            )
            with source_cm as source:
                if has_functions(source.client):
                    raise GoldenError("dump.rdb carries FUNCTION libraries (code, not data)")
                move_keys(source.client, target)
        yield cluster


def client_of(target: Server | Cluster) -> redis.Redis:
    """The client of a server, or a cluster's ``RedisCluster`` typed as what the dump,
    format and view code take: it answers the same commands (SCAN and DBSIZE over
    every master, pipelines split by slot), but redis-py types the two clients apart."""
    if isinstance(target, Cluster):
        client: redis.Redis = target.client  # type: ignore[assignment]
        return client
    return target.client


def first_difference(expected: KeyspaceDump, actual: KeyspaceDump) -> str | None:
    """One line naming the first key that differs between two dumps, or ``None``."""
    exp = {key_text(e.key): e for e in expected.keys}
    act = {key_text(e.key): e for e in actual.keys}
    for key in sorted(exp.keys() | act.keys()):
        shown = repr(key if len(key) <= 80 else key[:77] + "...")
        if key not in act:
            return f"key {shown} is missing"
        if key not in exp:
            return f"key {shown} is unexpected"
        a, b = exp[key], act[key]
        if type(a) is not type(b):
            return f"key {shown} is a {b.__struct_config__.tag}, expected {a.__struct_config__.tag}"
        if a != b:
            return f"key {shown} holds different data"
    return None
