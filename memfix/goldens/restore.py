"""Put a golden into a real server, from its RDB file or its JSON dump.

``rdb`` restores always start a fresh server that loads ``dump.rdb`` at start
(what a real upgrade does). ``json`` restores replay ``dump.json``. With a
:class:`ServerPool`, json restores reuse one running server per server kind,
emptied and checked empty before each case, and rdb servers can be started
ahead of their case: what makes a golden run of dozens of cases take about
a second instead of several.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import redis

from memfix.goldens.dump import KeyspaceDump, key_text, restore_dump
from memfix.goldens.golden import Golden
from memfix.servers import Server, ServerSpec

__all__ = ["RestoreMode", "ServerPool", "first_difference", "restored_server"]


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

    def _discard(self, spec_id: str) -> None:
        server = self._servers.pop(spec_id, None)
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()

    def close(self) -> None:
        for spec_id in list(self._servers):
            self._discard(spec_id)
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


@contextmanager
def restored_server(
    golden: Golden, spec: ServerSpec, mode: RestoreMode, *, pool: ServerPool | None = None
) -> Iterator[Server]:
    """A server of ``spec`` holding exactly ``golden``'s data.

    Without ``pool`` the server is fresh and stopped on exit. Raises
    :class:`memfix.servers.DumpTooNewError` (before starting anything) when
    ``mode`` is RDB and the dump is newer than ``spec`` can load.
    """
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
