"""Contenders, interleaved rounds and the statistics every table is built from.

Every contender of a workload runs in every round; a round runs each of them
``slices`` times for a slice of its calls, in a rotating order (A B C, then
B C A, ...), so a burst of noise from elsewhere on the machine lands on all of
them. A rate is the median over rounds with the min-max spread. A ratio is
taken against a baseline in the same slice of the same round (run back to back,
a few ms apart), with the same parser: the median and p25-p75 over all slices,
so a burst of load elsewhere skews one sample, not a round. The garbage
collector is off during timing unless the workload says ``gc=True`` (as in an
application).
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis._parsers import _HiredisParser, _RESP2Parser
from redis.connection import AbstractConnection

Op = Callable[[], object]
PARSERS: dict[str, type] = {"hiredis": _HiredisParser, "python": _RESP2Parser}
PREFIX = "membench"


@dataclass
class Contender:
    """One way of doing a workload's operation.

    ``make(client, key)`` returns the timed operation (one call = one store call);
    ``prepare(client, key)`` writes what the operation needs before the rounds
    (a history to read, or a full window for steady-state appends).
    """

    name: str
    make: Callable[[redis.Redis, str], Op]
    prepare: Callable[[redis.Redis, str], None] | None = None
    note: str = ""


@dataclass
class Workload:
    name: str
    title: str
    unit: str  # what one call moves: "msgs" or "histories"
    per_call: int  # messages per call
    baselines: list[str]  # contender names; ratios against each, the first is the main one
    contenders: list[Contender]
    calls: int  # calls per contender per round
    reads: bool = False  # reads leave the data in place; appends keep a steady state
    gc: bool = False  # time with the garbage collector on (as in an application)
    regime: str = ""  # filled in by the run: "pinned" or "unpinned"


@dataclass
class Stat:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        """Median with the min-max spread."""
        return cls(statistics.median(values), min(values), max(values))

    @classmethod
    def quartiles(cls, values: Sequence[float]) -> Stat:
        """Median with the interquartile range (p25-p75) as the spread."""
        if len(values) < 4:
            return cls.of(values)
        q1, q2, q3 = statistics.quantiles(values, n=4)
        return cls(q2, q1, q3)


@dataclass
class Row:
    workload: str
    parser: str
    contender: str
    unit: str
    per_call: int
    calls_per_s: Stat
    msgs_per_s: Stat
    ratios: dict[str, Stat]  # baseline name -> per-round ratio statistics
    rounds: list[float] = field(default_factory=list)  # calls/s per round
    note: str = ""


def elapsed_ns(op: Op, calls: int, *, with_gc: bool = False) -> int:
    """Wall time of ``calls`` back-to-back calls (garbage collector off unless asked)."""
    gc_was = gc.isenabled()
    if with_gc:
        gc.enable()
    else:
        gc.disable()
    try:
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            op()
        return time.perf_counter_ns() - t0
    finally:
        if gc_was:
            gc.enable()
        else:
            gc.disable()


def run_workload(
    wl: Workload,
    clients: dict[str, redis.Redis],
    rounds: int,
    slices: int,
    log: Callable[[str], None],
) -> list[Row]:
    """Time every (contender, parser) of a workload, interleaved."""
    runs = [(c, p) for c in wl.contenders for p in clients]
    keys = {
        (c.name, p): f"{PREFIX}:{p}:{wl.name}:{i}:s"
        for i, c in enumerate(wl.contenders)
        for p in clients
    }
    ops: dict[tuple[str, str], Op] = {}
    per_slice = max(1, wl.calls // slices)
    for c, p in runs:
        key = keys[c.name, p]
        if c.prepare is not None:
            c.prepare(clients[p], key)
        ops[c.name, p] = op = c.make(clients[p], key)
        elapsed_ns(op, max(10, per_slice // 2))  # warm-up: connection, script cache, imports
    per_round: dict[tuple[str, str], list[float]] = {(c.name, p): [] for c, p in runs}
    per_slice_rate: dict[tuple[str, str], list[float]] = {(c.name, p): [] for c, p in runs}
    for rnd in range(rounds):
        spent = {run: 0 for run in per_round}
        for sl in range(slices):
            shift = (rnd * slices + sl) % len(runs)
            for c, p in runs[shift:] + runs[:shift]:
                ns = elapsed_ns(ops[c.name, p], per_slice, with_gc=wl.gc)
                spent[c.name, p] += ns
                per_slice_rate[c.name, p].append(per_slice * 1e9 / ns)
        for run, ns in spent.items():
            per_round[run].append(per_slice * slices * 1e9 / ns)
        log(f"  {wl.name}: round {rnd + 1}/{rounds}")
    for c, p in runs:
        drop(clients[p], session_keys(clients[p], keys[c.name, p]))
    rows = []
    for c, p in runs:
        rates = per_round[c.name, p]
        # A ratio pairs slices of one round and slice (run back to back, a few ms
        # apart): a burst of load elsewhere that hits one slice skews one sample of
        # 35, not a whole round.
        ratios = {
            b: Stat.quartiles(
                [
                    x / y
                    for x, y in zip(per_slice_rate[c.name, p], per_slice_rate[b, p], strict=True)
                ]
            )
            for b in wl.baselines
        }
        rows.append(
            Row(
                workload=wl.name,
                parser=p,
                contender=c.name,
                unit=wl.unit,
                per_call=wl.per_call,
                calls_per_s=Stat.of(rates),
                msgs_per_s=Stat.of([x * wl.per_call for x in rates]),
                ratios=ratios,
                rounds=[round(x, 1) for x in rates],
                note=c.note,
            )
        )
    return rows


@contextlib.contextmanager
def counting_sends() -> Iterator[list[int]]:
    """Count network writes (one per round trip; a pipeline is one) of every connection."""
    counter = [0]
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        counter[0] += 1
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def session_keys(client: redis.Redis, session: str) -> list[bytes]:
    """Every key whose name holds ``session`` (the list, and any companion key)."""
    return sorted(client.scan_iter(match=f"*{session}*", count=1000))


def drop(client: redis.Redis, keys: list[bytes]) -> None:
    if keys:
        client.delete(*keys)


def commandstats(admin: redis.Redis) -> dict[str, tuple[int, int]]:
    """Per command: (calls, microseconds spent in the server)."""
    stats: dict[str, Any] = admin.info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()}


@dataclass
class Static:
    workload: str
    contender: str
    round_trips: float
    server_commands: dict[str, float]
    server_usec: float  # microseconds of server time per call (INFO commandstats)


_SCRIPT_INNER = ("rpush", "lpush", "sadd", "ltrim", "pexpire", "lpos", "llen", "lindex")


def measure_static(
    wl: Workload, client: redis.Redis, admin: redis.Redis, calls: int = 200
) -> list[Static]:
    """Round trips (client writes) and server commands and time (INFO commandstats) per
    call, in the same steady state as the timed rounds."""
    out: list[Static] = []
    for i, c in enumerate(wl.contenders):
        key = f"{PREFIX}:static:{wl.name}:{i}:s"
        if c.prepare is not None:
            c.prepare(client, key)
        op = c.make(client, key)
        for _ in range(3):
            op()
        before = commandstats(admin)
        with counting_sends() as sent:
            for _ in range(calls):
                op()
        after = commandstats(admin)
        changed = [n for n in sorted(after) if n != "info" and after[n] != before.get(n, (0, 0))]
        commands = {n: round((after[n][0] - before.get(n, (0, 0))[0]) / calls, 2) for n in changed}
        # A script's own time includes the commands it calls: count those once.
        scripted = any(x in changed for x in ("evalsha", "eval", "fcall"))
        top = [n for n in changed if not (scripted and n in _SCRIPT_INNER)]
        usec = sum(after[n][1] - before.get(n, (0, 0))[1] for n in top) / calls
        out.append(Static(wl.name, c.name, round(sent[0] / calls, 2), commands, round(usec, 1)))
        drop(client, session_keys(admin, key))
    return out
