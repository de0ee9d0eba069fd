"""Mixed fleets: two releases append to and read the same sessions at once.

During a rolling deploy, processes of release N and N+1 share one server for
minutes. Each release is a :class:`StoreFactory` (any format: build it
from that release's code), run in its own process as separate pods are.
Its writers append tagged messages to shared sessions and keep reading them
back through *their own* release's store; at the end every release reads
every session. The run is ``ok`` when nothing acknowledged is lost or
duplicated, each writer's order holds, and no release failed to decode
anything it read, during the run or after.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from memfix.model import Message
from memfix.testing.factory import StoreFactory
from memfix.testing.invariants import CheckResult, check_history, tag

__all__ = ["FleetResult", "run_mixed_fleet"]

_TIMEOUT_S = 120.0


@dataclass
class _Writer:
    release: str
    name: str
    acked: dict[str, list[str]] = field(default_factory=dict)
    reads: int = 0
    decode_errors: list[str] = field(default_factory=list)
    read_misses: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class FleetResult:
    """One mixed-fleet run. ``checks``: each release's final reading of every session."""

    releases: list[str]
    messages: int
    reads: int
    checks: dict[str, CheckResult]
    decode_errors: dict[str, int]
    #: Reads during the run that missed one of the reader's own acknowledged writes.
    read_misses: int
    seconds: float
    error_sample: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.messages > 0
            and all(c.ok and c.acknowledged == self.messages for c in self.checks.values())
            and not any(self.decode_errors.values())
            and not self.read_misses
            and not self.errors
        )

    def describe(self) -> str:
        per = "; ".join(f"{r} reads: {c.describe()}" for r, c in self.checks.items())
        return (
            f"releases {', '.join(self.releases)}: {self.messages} messages acknowledged, "
            f"{self.reads} reads during the run, decode errors {self.decode_errors}, "
            f"{self.read_misses} reads missing the reader's own writes, {self.seconds:.2f}s; "
            f"{per}"
            + (f"; e.g. {self.error_sample[0]}" if self.error_sample else "")
            + (f"; errors: {self.errors[:3]}" if self.errors else "")
        )


def _safe(release: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in release)


def _write(
    w: _Writer, factory: StoreFactory, sessions: list[str], count: int, read_every: int
) -> None:
    store = factory()
    try:
        for seq in range(count):
            sid = sessions[seq % len(sessions)]
            t = tag(w.name, seq)
            store.append_message(sid, Message("user" if seq % 2 else "assistant", t))
            w.acked.setdefault(sid, []).append(t)
            if seq % read_every == 0:
                w.reads += 1
                try:
                    found = {m.content for m in store.get_history(sid, limit=None)}
                except Exception as exc:  # the old release meeting a newer record
                    w.decode_errors.append(f"{w.release}: {type(exc).__name__}: {exc}")
                    continue
                w.read_misses += sum(1 for mine in w.acked[sid] if mine not in found)
    except Exception as exc:
        w.errors.append(f"{w.name}: {type(exc).__name__}: {exc}")
    finally:
        store.close()


def _run_release(
    release: str,
    factory: StoreFactory,
    writers: int,
    sessions: list[str],
    count: int,
    read_every: int,
    out: Any,
) -> None:
    """Entry point of one release's process: its writers as threads."""
    reports = [_Writer(release, f"{_safe(release)}w{i}") for i in range(writers)]
    threads = [
        threading.Thread(target=_write, args=(w, factory, sessions, count, read_every))
        for w in reports
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in reports:
        out.put(w)


def run_mixed_fleet(
    releases: Mapping[str, StoreFactory],
    *,
    sessions: int = 2,
    writers_per_release: int = 2,
    messages_per_writer: int = 100,
    read_every: int = 5,
    processes: bool = True,
    prefix: str = "fleet",
) -> FleetResult:
    """Run every release's writers at once on shared sessions, then check.

    ``releases`` maps a name to a picklable factory of that release's store
    on the shared server. With ``processes`` each release runs in its own
    spawned process (its own imports, its own connections); otherwise as
    threads of this one.
    """
    if len(releases) < 2:
        raise ValueError("a mixed fleet needs at least two releases")
    sids = [f"{prefix}-s{i}" for i in range(sessions)]
    ctx = multiprocessing.get_context("spawn")
    out: Any = ctx.Queue() if processes else queue.Queue()
    args = [
        (name, f, writers_per_release, sids, messages_per_writer, read_every, out)
        for name, f in releases.items()
    ]
    started = time.monotonic()
    runners: list[Any] = [
        ctx.Process(target=_run_release, args=a, daemon=True)
        if processes
        else threading.Thread(target=_run_release, args=a, daemon=True)
        for a in args
    ]
    for r in runners:
        r.start()
    reports: list[_Writer] = []
    errors: list[str] = []
    deadline = started + _TIMEOUT_S
    expected = len(releases) * writers_per_release
    while len(reports) < expected:
        try:
            reports.append(out.get(timeout=0.5))
        except queue.Empty:
            dead = [r for r in runners if getattr(r, "exitcode", None) not in (None, 0)]
            if dead or time.monotonic() > deadline:
                errors.append(f"only {len(reports)} of {expected} writers reported")
                break
    for r in runners:
        r.join(10)
        if processes and r.is_alive():
            r.kill()
    seconds = time.monotonic() - started

    acked: dict[str, list[str]] = {}
    for w in reports:
        for sid, tags in w.acked.items():
            acked.setdefault(sid, []).extend(tags)
    decode_errors = {name: 0 for name in releases}
    samples: list[str] = []
    for w in reports:
        decode_errors[w.release] += len(w.decode_errors)
        samples += w.decode_errors[:1]
        errors += w.errors
    checks: dict[str, CheckResult] = {}
    for name, factory in releases.items():
        check = CheckResult()
        store = factory()
        try:
            for sid in sids:
                try:
                    history = store.get_history(sid, limit=None)
                except Exception as exc:
                    decode_errors[name] += 1
                    samples.append(f"{name} (final read): {type(exc).__name__}: {exc}")
                    history = []
                check += check_history(history, acked.get(sid, []))
        finally:
            store.close()
        checks[name] = check
    return FleetResult(
        releases=list(releases),
        messages=sum(len(t) for t in acked.values()),
        reads=sum(w.reads for w in reports),
        checks=checks,
        decode_errors=decode_errors,
        read_misses=sum(w.read_misses for w in reports),
        seconds=seconds,
        error_sample=samples[:3],
        errors=errors,
    )
