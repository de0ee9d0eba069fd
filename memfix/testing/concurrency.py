"""Many writers on shared sessions at once, in threads and in separate processes.

Appends, batch appends, compactions, window trims and TTL refreshes race each
other on the same keys; afterwards every session is read back and checked
(:mod:`memfix.testing.invariants`). Threads share a client's connection pool;
processes each open their own connections, as separate app instances do.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from memfix.errors import CompactionConflict
from memfix.model import Message
from memfix.testing.capabilities import Capabilities, capabilities_of
from memfix.testing.factory import StoreFactory
from memfix.testing.invariants import CheckResult, check_history, check_window, summarize, tag

__all__ = [
    "BatchAtomicityResult",
    "ConcurrencyResult",
    "Workload",
    "fit_workload",
    "run_batch_atomicity",
    "run_concurrency",
]

_JOIN_TIMEOUT = 120.0
#: After the deadline, how long in-flight calls get to return before the run gives up.
_GRACE_S = 15.0


@dataclass(frozen=True)
class Workload:
    """What races: sizes are per writer; everything is small enough for CI.

    Compactors own disjoint sessions unless ``compactors_share_sessions``:
    ``compact(seen=...)`` protects against concurrent appends, and this switch
    checks whether it also holds against a concurrent compaction.
    """

    sessions: int = 2
    appenders: int = 4
    batchers: int = 2
    compactors: int = 2
    window_writers: int = 2
    messages_per_writer: int = 150
    batch_max: int = 5
    keep_last: int = 5
    compact_at: int = 20
    window: int = 30
    ttl: float | None = 300.0
    compactors_share_sessions: bool = False
    #: How compactors pass what they read: ``"history"``, ``"count"`` or ``None`` (no seen).
    seen: Literal["history", "count"] | None = "history"
    #: Writers still running then stop and report it as an error (a store that
    #: slows down under contention fails the run instead of stalling CI).
    deadline_s: float = 60.0


def fit_workload(w: Workload, caps: Capabilities) -> tuple[Workload, list[str]]:
    """``w`` without the parts ``caps`` does not claim, and the capabilities left out.

    Each part goes alone: a store with a TTL but no window keeps its TTL
    coverage; one without atomic compaction still races appends and batches.
    """
    changes: dict[str, Any] = {}
    skipped: list[str] = []

    def drop(capability: str, **change: Any) -> None:
        changes.update(change)
        skipped.append(capability)

    if w.ttl is not None and not caps.ttl:
        drop("ttl", ttl=None)
    if w.window_writers and not caps.window:
        drop("window", window_writers=0)
    if w.compactors:
        seen = w.seen if w.seen in caps.seen else min(caps.seen, default=None)
        if not caps.atomic_compaction:
            drop("atomic_compaction", compactors=0)
        elif seen is None:
            drop("seen", compactors=0)
        elif seen == "count" and w.compactors_share_sessions:
            # A count cannot tell another compaction's moved head from appends.
            drop("seen:history", compactors=0)
        else:
            changes["seen"] = seen
    return dataclasses.replace(w, **changes), skipped


@dataclass(frozen=True)
class _Actor:
    name: str
    kind: str  # "append" | "batch" | "compact" | "window"
    sessions: tuple[str, ...]
    count: int
    seed: int


@dataclass
class _Report:
    name: str
    kind: str
    acked: dict[str, list[str]] = field(default_factory=dict)
    batches: int = 0
    compactions: int = 0
    replaced: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class ConcurrencyResult:
    """Counts of one run; ``ok`` when nothing acknowledged was lost or reordered."""

    check: CheckResult
    window: CheckResult
    writers: int
    processes: int
    threads: int
    messages: int
    batches: int
    compactions: int
    replaced: int
    conflicts: int
    seconds: float
    errors: list[str] = field(default_factory=list)
    #: Capabilities the store does not claim, whose part of the workload did not run.
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.check.ok and self.window.ok and not self.errors

    def describe(self) -> str:
        return (
            f"{self.writers} writers ({self.processes} processes + main, {self.threads} threads), "
            f"{self.messages} messages acknowledged ({self.batches} batches), "
            f"{self.compactions} compactions replacing {self.replaced} "
            f"({self.conflicts} conflicts), {self.seconds:.2f}s; "
            f"shared: {self.check.describe()}; window: {self.window.describe()}"
            + (f"; not run (undeclared): {', '.join(self.skipped)}" if self.skipped else "")
            + (f"; errors: {self.errors[:3]}" if self.errors else "")
        )


def _write(actor: _Actor, factory: StoreFactory, w: Workload, report: _Report, stop: Any) -> None:
    rng = random.Random(actor.seed)
    windowed = actor.kind == "window"
    store = factory(ttl=w.ttl, max_messages=w.window if windowed else None)
    try:
        seq = 0
        while seq < actor.count:
            if stop.is_set():  # only before the writers are done: the deadline passed
                report.errors.append(
                    f"{actor.name}: unfinished at the {w.deadline_s:.0f}s deadline "
                    f"({seq} of {actor.count} written)"
                )
                break
            sid = actor.sessions[seq % len(actor.sessions)]
            if actor.kind == "batch":
                n = min(rng.randint(1, w.batch_max), actor.count - seq)
                tags = [tag(actor.name, seq + i) for i in range(n)]
                store.append_messages(sid, [Message("user", t, time.time()) for t in tags])
                report.batches += 1
            else:
                tags = [tag(actor.name, seq)]
                store.append_message(sid, Message("assistant", tags[0], time.time()))
            report.acked.setdefault(sid, []).extend(tags)  # only once the call returned
            seq += len(tags)
    finally:
        store.close()


def _compact(actor: _Actor, factory: StoreFactory, w: Workload, report: _Report, stop: Any) -> None:
    store = factory(ttl=w.ttl)
    try:
        while not stop.is_set():
            for sid in actor.sessions:
                history = store.get_history(sid, limit=None)
                if len(history) < w.compact_at:
                    continue
                head = history[: len(history) - w.keep_last]
                seen = history if w.seen == "history" else len(history)
                try:
                    n = store.compact(sid, w.keep_last, summarize(head), seen=seen)
                except CompactionConflict:
                    report.conflicts += 1
                    continue
                if n:
                    report.compactions += 1
                    report.replaced += n
            time.sleep(0.002)
    finally:
        store.close()


def _run_actor(actor: _Actor, factory: StoreFactory, w: Workload, stop: Any, out: Any) -> None:
    report = _Report(actor.name, actor.kind)
    try:
        if actor.kind == "compact":
            _compact(actor, factory, w, report, stop)
        else:
            _write(actor, factory, w, report, stop)
    except Exception as exc:
        report.errors.append(f"{actor.name}: {type(exc).__name__}: {exc}")
    out.put(report)


def _run_group(
    actors: list[_Actor], factory: StoreFactory, w: Workload, stop: Any, out: Any
) -> None:
    """Entry point of a writer process (and of the main process's own threads)."""
    threads = [
        threading.Thread(target=_run_actor, args=(a, factory, w, stop, out), daemon=True)
        for a in actors
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _plan(w: Workload, prefix: str) -> tuple[list[_Actor], list[str], list[str]]:
    shared = [f"{prefix}-s{i}" for i in range(w.sessions)]
    windows = [f"{prefix}-win{i}" for i in range(max(1, w.sessions // 2))]
    actors: list[_Actor] = []
    seed = 0
    for kind, n in (("append", w.appenders), ("batch", w.batchers), ("window", w.window_writers)):
        for i in range(n):
            seed += 1
            sessions = windows if kind == "window" else shared
            actors.append(
                _Actor(f"{kind[0]}{i}", kind, tuple(sessions), w.messages_per_writer, seed)
            )
    for i in range(w.compactors):
        owned = shared if w.compactors_share_sessions else shared[i :: w.compactors]
        if owned:
            actors.append(_Actor(f"c{i}", "compact", tuple(owned), 0, 0))
    return actors, shared, windows


def run_concurrency(
    factory: StoreFactory,
    workload: Workload | None = None,
    *,
    processes: int = 2,
    prefix: str = "cc",
    start_method: Literal["spawn", "forkserver"] = "spawn",
    capabilities: Capabilities | None = None,
) -> ConcurrencyResult:
    """Race the workload's actors, then check every session.

    Actors are dealt round-robin to the main process and ``processes`` child
    processes (``0``: threads only); each runs its actors as threads, so
    threads and processes race at once. ``factory`` must be picklable when
    ``processes > 0``. Parts of the workload the store does not claim
    (``capabilities``, by default :func:`capabilities_of` the factory) are
    left out and listed in ``skipped``.
    """
    caps = capabilities or capabilities_of(factory)
    w, skipped = fit_workload(workload or Workload(), caps)
    actors, shared, windows = _plan(w, prefix)
    ctx = (
        multiprocessing.get_context("forkserver")
        if start_method == "forkserver"
        else multiprocessing.get_context("spawn")
    )
    stop = ctx.Event()
    out: Any = ctx.Queue() if processes else queue.Queue()
    groups: list[list[_Actor]] = [[] for _ in range(processes + 1)]
    for i, actor in enumerate(actors):
        groups[i % len(groups)].append(actor)

    started = time.monotonic()
    children = [
        ctx.Process(target=_run_group, args=(g, factory, w, stop, out), daemon=True)
        for g in groups[1:]
        if g
    ]
    for p in children:
        p.start()
    local = threading.Thread(target=_run_group, args=(groups[0], factory, w, stop, out))
    local.start()

    reports: list[_Report] = []
    writers = sum(1 for a in actors if a.kind != "compact")
    deadline = started + w.deadline_s
    try:
        while len(reports) < len(actors):
            try:
                reports.append(out.get(timeout=0.5))
            except queue.Empty:
                dead = [p for p in children if p.exitcode not in (None, 0)]
                now = time.monotonic()
                if now > deadline:
                    stop.set()
                if dead or now > deadline + _GRACE_S:
                    codes = ", ".join(f"{p.name} exit {p.exitcode}" for p in dead)
                    raise RuntimeError(
                        f"only {len(reports)} of {len(actors)} actors reported"
                        + (
                            f" ({codes}; spawned processes re-import __main__: guard it "
                            "with `if __name__ == '__main__':`)"
                            if dead
                            else " in time"
                        )
                    ) from None
                continue
            if sum(1 for r in reports if r.kind != "compact") == writers:
                stop.set()
    finally:
        stop.set()
        local.join(_GRACE_S)
        for p in children:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    seconds = time.monotonic() - started

    acked: dict[str, list[str]] = {}
    for r in reports:
        for sid, tags in r.acked.items():
            acked.setdefault(sid, []).extend(tags)
    store = factory()
    try:
        check = CheckResult()
        for sid in shared:
            check += check_history(store.get_history(sid, limit=None), acked.get(sid, []))
        window = CheckResult()
        if w.window_writers:
            for sid in windows:
                history = store.get_history(sid, limit=None)
                window += check_window(history, acked.get(sid, []), w.window)
    finally:
        store.close()
    return ConcurrencyResult(
        check=check,
        window=window,
        writers=writers,
        processes=len(children),
        threads=len(actors),
        messages=sum(len(t) for t in acked.values()),
        batches=sum(r.batches for r in reports),
        compactions=sum(r.compactions for r in reports),
        replaced=sum(r.replaced for r in reports),
        conflicts=sum(r.conflicts for r in reports),
        seconds=seconds,
        errors=[e for r in reports for e in r.errors],
        skipped=skipped,
    )


# -- batch atomicity -------------------------------------------------------------


@dataclass
class BatchAtomicityResult:
    """Batches written while single appends raced them on the same session.

    ``split``: batches found with another message inside them, or only
    partly present (``append_messages`` was not one atomic step).
    """

    batches: int
    batch_size: int
    singles: int
    split: int
    split_sample: list[list[str]]
    check: CheckResult
    seconds: float

    @property
    def ok(self) -> bool:
        return self.split == 0 and self.check.ok and self.batches > 0

    def describe(self) -> str:
        sample = f" (e.g. {self.split_sample[0]})" if self.split_sample else ""
        return (
            f"{self.split} of {self.batches} batches of {self.batch_size} split{sample}, "
            f"{self.singles} single appends raced them, {self.seconds:.2f}s; "
            f"{self.check.describe()}"
        )


def run_batch_atomicity(
    factory: StoreFactory,
    *,
    batches: int = 30,
    batch_size: int = 5,
    single_writers: int = 1,
    session: str = "atomicity",
) -> BatchAtomicityResult:
    """One thread appends ``batches`` batches while ``single_writers`` threads append
    one message at a time to the same session, until the batches are done.

    An atomic batch is found contiguous (its tags next to each other, in
    order); a store that writes a batch one message per round trip lets the
    single writers land inside it. Threads only: the race is between round
    trips, and threads on one machine hit it as well as processes.
    """
    done = threading.Event()
    racing = threading.Semaphore(0)  # one release per single writer once it is appending
    acked: list[str] = []
    written: list[list[str]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def batcher() -> None:
        store = factory()
        try:
            # Start only once every single writer is appending: a fast store can write
            # all its batches before a thread that has just started appends at all.
            for _ in range(single_writers):
                racing.acquire(timeout=_JOIN_TIMEOUT)
            for b in range(batches):
                tags = [tag("batch", b * batch_size + i) for i in range(batch_size)]
                store.append_messages(session, [Message("user", t, 1.0) for t in tags])
                with lock:
                    written.append(tags)
                    acked.extend(tags)
        except Exception as exc:
            errors.append(f"batcher: {type(exc).__name__}: {exc}")
        finally:
            done.set()
            store.close()

    def single(name: str) -> None:
        store = factory()
        try:
            seq = 0
            while not done.is_set():
                store.append_message(session, Message("assistant", tag(name, seq), 1.0))
                with lock:
                    acked.append(tag(name, seq))
                if seq == 0:
                    racing.release()
                seq += 1
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            if seq == 0:
                racing.release()  # failed before racing: do not keep the batcher waiting
        finally:
            store.close()

    started = time.monotonic()
    threads = [threading.Thread(target=single, args=(f"one{i}",)) for i in range(single_writers)]
    threads.append(threading.Thread(target=batcher))
    for t in threads:
        t.start()
    for t in threads:
        t.join(_JOIN_TIMEOUT)
    seconds = time.monotonic() - started
    if errors or any(t.is_alive() for t in threads):
        raise RuntimeError(f"batch atomicity run failed: {errors or 'a writer hung'}")
    store = factory()
    try:
        history = store.get_history(session, limit=None)
    finally:
        store.close()
    found = [m.content for m in history]
    position = {t: i for i, t in enumerate(found)}
    split = [
        tags
        for tags in written
        if [position.get(t) for t in tags]
        != list(range(position.get(tags[0], -1), position.get(tags[0], -1) + len(tags)))
        or tags[0] not in position
    ]
    return BatchAtomicityResult(
        batches=len(written),
        batch_size=batch_size,
        singles=len(acked) - len(written) * batch_size,
        split=len(split),
        split_sample=split[:3],
        check=check_history(history, acked),
        seconds=seconds,
    )
