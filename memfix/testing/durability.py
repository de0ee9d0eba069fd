"""What survives a crash, and what survives a server upgrade or downgrade.

Crash cycles: writer threads append while the server is killed (SIGKILL, or
``docker kill``) and restarted on the same data; after each restart every
acknowledged message must be there (AOF ``always``), or the loss is measured
(``everysec``), or detected (persistence off: the proof the check can fail).

Upgrades: a data directory written by one server is started under another.
Older servers do not refuse newer data loudly in every case (Redis 6.2 given
a 7.0+ ``appendonlydir/`` starts *empty*), so :func:`check_data_dir` refuses
first, naming the file and the versions.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from memfix.model import Message
from memfix.servers import DumpTooNewError, Persistence, Server, ServerSpec, rdb_header
from memfix.store.base import MemoryStore
from memfix.store.redis_store import RedisMemoryStore
from memfix.testing.capabilities import Capabilities, capabilities_of, project
from memfix.testing.factory import FactoryFor, RedisStoreFactory
from memfix.testing.invariants import check_history, summarize, tag, tags_of

__all__ = [
    "CrashResult",
    "StoreOnServer",
    "UpgradeResult",
    "check_data_dir",
    "record_data_dir",
    "redis_store_on",
    "run_crash_cycles",
    "verify_data_dir",
]

StoreOn = Callable[[Server], MemoryStore]
_JOIN_TIMEOUT = 15.0


def redis_store_on(server: Server) -> MemoryStore:
    """The default ``store_on``: a :class:`RedisMemoryStore` with its own client."""
    return RedisMemoryStore(server.new_client(socket_timeout=10))


@dataclass(frozen=True)
class StoreOnServer:
    """A ``store_on`` for any store: ``factory_for(server.url)()`` on whichever
    server the cycle (re)started, carrying the factory's declared capabilities."""

    factory_for: FactoryFor

    def __call__(self, server: Server) -> MemoryStore:
        return self.factory_for(server.url)()

    @property
    def capabilities(self) -> Capabilities:
        declared = getattr(self.factory_for, "capabilities", None)
        return declared if isinstance(declared, Capabilities) else Capabilities()


@dataclass
class CrashResult:
    """Totals over all cycles of one persistence policy.

    ``lost``: acknowledged appends missing after the last restart.
    ``torn_batches``: ``append_messages`` calls found partly applied (a batch
    must be all or nothing, acknowledged or not). ``loss_window_s``: the
    longest time between a lost message's acknowledgement and the kill.

    What a kill can show: a SIGKILL (or ``docker kill``) ends the server
    *process*; what it already ``write()``-ed to its AOF stays in the kernel's
    page cache and reaches disk anyway. So these cycles prove what a process
    crash loses (everything unsaved without persistence, the unsnapshotted
    tail with RDB, nothing with AOF) and whether batches tear, but they
    cannot show the ``appendfsync everysec`` window (up to ~1 s, more while a
    slow fsync postpones writes), which only an OS crash or power loss
    opens: ``everysec`` measuring zero here is expected, not a guarantee.
    """

    server: str
    persistence: str
    cycles: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unacknowledged: int = 0
    torn_batches: int = 0
    loss_window_s: float = 0.0
    lost_per_cycle: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No loss, no duplicate, no reordering, no torn batch."""
        return not (self.lost or self.duplicated or self.out_of_order or self.torn_batches)

    def describe(self) -> str:
        return (
            f"{self.server} {self.persistence}: {self.cycles} kill/restart cycles, "
            f"{self.acknowledged} acknowledged, {self.lost} lost "
            f"(per cycle {self.lost_per_cycle}), {self.duplicated} duplicated, "
            f"{self.out_of_order} out of order, {self.torn_batches} torn batches, "
            f"{self.unacknowledged} unacknowledged present, "
            f"loss window {self.loss_window_s * 1000:.0f} ms"
        )


class _Writer(threading.Thread):
    """Appends until its store fails; records a tag only once its call returned."""

    def __init__(self, name: str, store: MemoryStore, session: str, batch: int) -> None:
        super().__init__(daemon=True)
        self.writer, self.store, self.session, self.batch = name, store, session, batch
        self.acked: dict[str, float] = {}
        self.batches: list[list[str]] = []
        self.error = ""

    def run(self) -> None:
        seq = calls = 0
        try:
            while True:
                # Every other call is a batch: a kill often lands inside one, so a
                # store that writes a batch in several round trips shows torn batches.
                n = self.batch if calls % 2 else 1
                calls += 1
                tags = [tag(self.writer, seq + i) for i in range(n)]
                if n > 1:
                    self.batches.append(tags)  # before the call: torn even if unacked
                    self.store.append_messages(self.session, [Message("user", t) for t in tags])
                else:
                    self.store.append_message(self.session, Message("user", tags[0]))
                now = time.monotonic()
                for t in tags:
                    self.acked[t] = now
                seq += n
        except Exception as exc:  # the kill ends every writer
            self.error = f"{type(exc).__name__}: {exc}"


def run_crash_cycles(
    server: Server,
    *,
    store_on: StoreOn = redis_store_on,
    cycles: int = 10,
    write_seconds: float = 0.2,
    writers: int = 2,
    batch: int = 3,
    session: str = "crash",
) -> CrashResult:
    """Kill the server under ``writers`` appending threads, restart, check; ``cycles`` times.

    Data accumulates across cycles (each restart must also bring back what
    earlier cycles wrote). The server keeps the persistence it was started with.
    """
    result = CrashResult(server.spec.id, server.persistence.value)
    acked: dict[str, float] = {}
    batches: list[list[str]] = []
    missing: set[str] = set()
    for cycle in range(cycles):
        threads = [
            _Writer(f"c{cycle}w{i}", store_on(server), session, batch) for i in range(writers)
        ]
        for t in threads:
            t.start()
        time.sleep(write_seconds)
        killed_at = time.monotonic()
        server.kill()
        for t in threads:
            t.join(_JOIN_TIMEOUT)
            if t.is_alive():
                result.errors.append(f"{t.writer} still blocked {_JOIN_TIMEOUT}s after the kill")
            with contextlib.suppress(Exception):
                t.store.close()
            acked.update(t.acked)
            batches.extend(t.batches)
        server.restart()
        store = store_on(server)
        try:
            history = store.get_history(session, limit=None)
        finally:
            store.close()
        check = check_history(history, acked)
        present = set(tags_of(history))
        now_missing = set(acked) - present
        new = now_missing - missing
        if new:
            result.loss_window_s = max(result.loss_window_s, killed_at - min(acked[t] for t in new))
        missing = now_missing
        result.cycles += 1
        result.lost_per_cycle.append(len(new))
        result.duplicated = max(result.duplicated, check.duplicated)
        result.out_of_order = max(result.out_of_order, check.out_of_order)
        result.torn_batches = max(
            result.torn_batches,
            sum(1 for b in batches if 0 < sum(t in present for t in b) < len(b)),
        )
        result.unacknowledged = check.unacknowledged
    result.acknowledged = len(acked)
    result.lost = len(missing)
    return result


# -- upgrades and downgrades ---------------------------------------------------

_MULTIPART_AOF = (7, 0)


def check_data_dir(spec: ServerSpec, data_dir: Path, persistence: Persistence) -> None:
    """Raise :class:`DumpTooNewError` unless ``spec`` can load what ``data_dir`` holds.

    Checks the file the server would actually read: ``dump.rdb`` without AOF;
    with AOF, ``appendonly.aof`` (6.x) or the base RDB files of the multi-part
    ``appendonlydir/`` (7.0+), which a 6.x server does not read at all.
    """
    data_dir = Path(data_dir)
    if not persistence.is_aof:
        dump = data_dir / "dump.rdb"
        if dump.is_file():
            spec.check_dump(dump)
        return
    multipart = data_dir / "appendonlydir"
    if multipart.is_dir() and any(multipart.iterdir()):
        if spec.version_tuple < _MULTIPART_AOF and not (data_dir / "appendonly.aof").is_file():
            raise DumpTooNewError(
                f"{multipart}: multi-part AOF written by a 7.0+ server; {spec.id} reads only "
                "appendonly.aof and would start with an EMPTY database, not refuse"
            )
        for base in sorted(multipart.glob("*.base.rdb")):
            spec.check_dump(base)
        return
    single = data_dir / "appendonly.aof"
    if single.is_file():
        with open(single, "rb") as fh:
            head = fh.read(9)
        if head.startswith((b"REDIS", b"VALKEY")):  # RDB preamble of a rewritten AOF
            header = rdb_header(head)
            if not spec.can_load(header):
                raise DumpTooNewError(
                    f"{single}: RDB preamble {header} is too new for {spec.id}, "
                    f"which loads up to {spec.loads_up_to}"
                )


def _reference_data() -> dict[str, list[Message]]:
    chat = [
        Message("user" if i % 2 else "assistant", f"turn {i} ✨ naïve 🤖", 1_700_000_000.0 + i)
        for i in range(40)
    ]
    return {
        "plain": chat[:12],
        "compacted": chat,
        "windowed": chat[:30],
        "empty-content": [Message("system", "", 0.5)],
    }


def record_data_dir(
    spec: ServerSpec,
    persistence: Persistence,
    data_dir: Path,
    *,
    factory_for: FactoryFor = RedisStoreFactory,
) -> dict[str, list[Message]]:
    """Write reference sessions with ``spec`` into ``data_dir`` and stop it cleanly.

    ``factory_for(url)`` gives the stores (default :class:`RedisMemoryStore`);
    the windowed session is written with a TTL and a window where the store
    claims them. Returns each session's history as read back before the
    stop: what any server started on this directory must return.
    """
    with spec.start(persistence=persistence, data_dir=data_dir) as server:
        factory = factory_for(server.url)
        caps = capabilities_of(factory)
        data = _reference_data()
        with factory() as plain:
            for sid in ("plain", "compacted", "empty-content"):
                plain.append_messages(sid, data[sid])
            plain.compact("compacted", 5, summarize(data["compacted"][:-5]))
            with factory(
                ttl=3600 if caps.ttl else None, max_messages=20 if caps.window else None
            ) as windowed:
                windowed.append_messages("windowed", data["windowed"])
            return {sid: plain.get_history(sid, limit=None) for sid in plain.sessions()}


@dataclass
class UpgradeResult:
    """One data directory started under one server."""

    source: str
    target: str
    persistence: str
    sessions: int
    messages: int
    ok: bool
    error: str = ""


def verify_data_dir(
    spec: ServerSpec,
    persistence: Persistence,
    data_dir: Path,
    expected: dict[str, list[Message]],
    *,
    source: str = "",
    workdir: Path | None = None,
    factory_for: FactoryFor = RedisStoreFactory,
) -> UpgradeResult:
    """Start ``spec`` on a copy of ``data_dir`` and compare every session.

    Sessions are read with ``factory_for(url)``'s stores (use the one that
    recorded them) and compared on the fields the store claims to keep.
    A copy, because the server rewrites its files in its own format on stop.
    Raises :class:`DumpTooNewError` (from :func:`check_data_dir`) for a
    downgrade that cannot work, before anything starts.
    """
    check_data_dir(spec, data_dir, persistence)
    copy = Path(workdir or data_dir.parent) / f"{data_dir.name}-on-{spec.id}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(data_dir, copy)
    try:
        with spec.start(persistence=persistence, data_dir=copy) as server:
            factory = factory_for(server.url)
            keeps = capabilities_of(factory).keeps
            with factory() as store:
                found = {sid: store.get_history(sid, limit=None) for sid in store.sessions()}
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    wrong = sorted(
        sid
        for sid in expected.keys() | found.keys()
        if sid not in expected
        or sid not in found
        or project(expected[sid], keeps) != project(found[sid], keeps)
    )
    return UpgradeResult(
        source=source,
        target=spec.id,
        persistence=persistence.value,
        sessions=len(found),
        messages=sum(len(v) for v in found.values()),
        ok=bool(expected) and not wrong,
        error=f"sessions differ: {', '.join(wrong)}"
        if wrong
        else ""
        if expected
        else "nothing expected: an empty recording proves nothing",
    )
