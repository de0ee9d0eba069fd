#!/usr/bin/env python3
"""memfix benchmarks: memfix against raw redis-py and the memory stores people use today.

Everything runs against ONE server started for the run (``memfix.servers``), and the
contenders of each workload are interleaved round by round (A B C, B C A, C A B, ...),
so a noisy machine slows them all alike. Each figure is the median over the rounds,
with the min-max spread; each ratio is the median of the per-round ratios against the
workload's baseline measured in the same round.

    python scripts/bench.py                  # full run (~3-5 min), table + bench-results.json
    python scripts/bench.py --quick          # short run (<30 s)
    python scripts/bench.py --with-peers     # pip-install langchain / llama-index first
    python scripts/bench.py --server redis-7 # another server (see `memfix servers`)
    python scripts/bench.py --url redis://localhost:6379/15   # a server you run (empty db)

Workloads (msgs of ~200 characters, sessions of 100 messages):

- append-1: one message per call; memfix with TTL and/or window on and off.
- append-10: ten messages per call (``append_messages``: one command).
- history-100: the last 100 messages of a session, decoded to each store's own type.
- static: bytes per message (``MEMORY USAGE``), round trips and server commands per call.
- goldens: restore throughput (JSON dump, RDB) and ``verify`` wall time, 1k..1M messages.

The optional peers (langchain_community ``RedisChatMessageHistory``, llama-index
``RedisChatStore``) are skipped with a note when they are not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis._parsers import _HiredisParser, _RESP2Parser
from redis.connection import AbstractConnection
from redis.utils import HIREDIS_AVAILABLE

import memfix
from memfix import Message, RedisMemoryStore, Role
from memfix.servers import (
    Server,
    ServerError,
    ServerSpec,
    connect_existing,
    default_spec,
    discover,
    select_spec,
)

# The seed article's store (its text, completed where cut off) lives with the tests,
# which check memfix's wire format against it; the benchmark times the same code.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.article_store import ArticleMessage, ArticleRedisMemoryStore

# What `--with-peers` installs (the same lines as memfix's `bench` extra).
PEER_REQUIREMENTS = [
    "langchain-community>=0.3",
    "langchain-core>=0.3",
    "llama-index-storage-chat-store-redis>=0.4",
]

TTL_SECONDS = 3600
WINDOW = 100  # a chat window of 100 messages: appends trim once it is full
HISTORY = 100
BATCH = 10
PREFIX = "membench"

Op = Callable[[], object]


# -- the messages --------------------------------------------------------------------

_TEXT = (
    "the user asked about redis persistence and the assistant explained that an append "
    "only file survives a restart while snapshots may lose the last minutes of a chat "
    "session unless the save rules say otherwise so memory needs tests on real servers"
)
_WORDS = _TEXT.split(" ")


def corpus(n: int, seed: int = 7) -> list[Message]:
    """``n`` alternating user/assistant messages of about 200 characters."""
    rnd = random.Random(seed)
    out: list[Message] = []
    for i in range(n):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < 200:
            words.append(rnd.choice(_WORDS))
        role: Role = "user" if i % 2 == 0 else "assistant"
        out.append(Message(role=role, content=" ".join(words)[:200], timestamp=1.7e9 + i))
    return out


# -- the contenders ------------------------------------------------------------------


@dataclass
class Contender:
    """One way of doing a workload's operation.

    ``make(client, key)`` returns the timed operation (one call = one store call);
    ``prepare(client, key)`` writes what a read needs before the rounds start.
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
    baseline: str
    contenders: list[Contender]
    reads: bool = False


def _cycle(items: Sequence[Any]) -> Callable[[], Any]:
    """An endless, cheap iterator over pre-built objects (built outside the timing)."""
    it = iter(_forever(items))
    return it.__next__


def _forever(items: Sequence[Any]) -> Iterator[Any]:
    while True:
        yield from items


def _batches(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items) - size + 1, size)]


def core_contenders(
    msgs: list[Message],
) -> tuple[list[Contender], list[Contender], list[Contender]]:
    """raw redis-py, memfix and the seed article's store: (append-1, append-10, history)."""

    article_msgs = [_article_message(m) for m in msgs]
    # raw redis-py stores the seed article's JSON, encoded before the timing starts
    encoded = [json.dumps(asdict(m)).encode() for m in article_msgs]
    batches = _batches(msgs, BATCH)
    encoded_batches = _batches(encoded, BATCH)

    def raw_rpush(r: redis.Redis, key: str) -> Op:
        nxt = _cycle(encoded)
        return lambda: r.rpush(key, nxt())

    def raw_rpush_expire(r: redis.Redis, key: str) -> Op:
        nxt = _cycle(encoded)

        def op() -> None:
            r.rpush(key, nxt())
            r.expire(key, TTL_SECONDS)

        return op

    def memfix_append(**options: Any) -> Callable[[redis.Redis, str], Op]:
        def make(r: redis.Redis, key: str) -> Op:
            store = RedisMemoryStore(r, **options)
            nxt = _cycle(msgs)
            return lambda: store.append_message(key, nxt())

        return make

    def article_append(r: redis.Redis, key: str) -> Op:
        store = _article_store(r)
        nxt = _cycle(article_msgs)
        return lambda: store.append_message(key, nxt())

    append1 = [
        Contender("raw RPUSH (pre-encoded)", raw_rpush),
        Contender("raw RPUSH + EXPIRE", raw_rpush_expire, note="the peers' TTL pattern"),
        Contender("memfix", memfix_append()),
        Contender("memfix ttl", memfix_append(ttl=TTL_SECONDS)),
        Contender("memfix window", memfix_append(max_messages=WINDOW)),
        Contender(
            "memfix ttl+window",
            memfix_append(ttl=TTL_SECONDS, max_messages=WINDOW),
        ),
        Contender("article (dataclass+json)", article_append),
    ]

    def raw_rpush_batch(r: redis.Redis, key: str) -> Op:
        nxt = _cycle(encoded_batches)
        return lambda: r.rpush(key, *nxt())

    def memfix_batch(**options: Any) -> Callable[[redis.Redis, str], Op]:
        def make(r: redis.Redis, key: str) -> Op:
            store = RedisMemoryStore(r, **options)
            nxt = _cycle(batches)
            return lambda: store.append_messages(key, nxt())

        return make

    def article_batch(r: redis.Redis, key: str) -> Op:
        store = _article_store(r)
        nxt = _cycle(_batches(article_msgs, BATCH))

        def op() -> None:
            for m in nxt():
                store.append_message(key, m)

        return op

    append10 = [
        Contender("raw RPUSH x10 (pre-encoded)", raw_rpush_batch),
        Contender("memfix", memfix_batch()),
        Contender(
            "memfix ttl+window",
            memfix_batch(ttl=TTL_SECONDS, max_messages=WINDOW),
        ),
        Contender(
            "article (dataclass+json)",
            article_batch,
            note="no batch API: 10 calls",
        ),
    ]

    history_msgs = msgs[:HISTORY]

    def fill_raw(r: redis.Redis, key: str) -> None:
        r.delete(key)
        r.rpush(key, *encoded[:HISTORY])

    def fill_memfix(r: redis.Redis, key: str) -> None:
        RedisMemoryStore(r).append_messages(key, history_msgs)

    def fill_article(r: redis.Redis, key: str) -> None:
        store = _article_store(r)
        for m in article_msgs[:HISTORY]:
            store.append_message(key, m)

    def raw_lrange(r: redis.Redis, key: str) -> Op:
        return lambda: r.lrange(key, -HISTORY, -1)

    def raw_lrange_json(r: redis.Redis, key: str) -> Op:
        loads = json.loads
        return lambda: [loads(raw) for raw in r.lrange(key, -HISTORY, -1)]

    def memfix_history(r: redis.Redis, key: str) -> Op:
        store = RedisMemoryStore(r)
        return lambda: store.get_history(key, HISTORY)

    def article_history(r: redis.Redis, key: str) -> Op:
        store = _article_store(r)
        return lambda: store.get_history(key, HISTORY)

    history = [
        Contender("raw LRANGE (bytes, no decoding)", raw_lrange, prepare=fill_raw),
        Contender("raw LRANGE + json.loads (dicts)", raw_lrange_json, prepare=fill_raw),
        Contender("memfix get_history -> Message", memfix_history, prepare=fill_memfix),
        Contender(
            "memfix get_history over 1.0 JSON records",
            memfix_history,
            prepare=fill_article,
            note="legacy data: the article wrote it, memfix upcasts it",
        ),
        Contender(
            "article get_history (dataclass)",
            article_history,
            prepare=fill_article,
        ),
    ]
    return append1, append10, history


def _memfix_key(session: str) -> str:
    return f"session:{session}:messages"


_article_key = _memfix_key  # the seed article's layout, which memfix keeps


def _article_store(r: redis.Redis) -> ArticleRedisMemoryStore:
    return ArticleRedisMemoryStore(r)


def _article_message(m: Message) -> ArticleMessage:
    return ArticleMessage(role=m.role, content=m.content, timestamp=m.timestamp)


def peer_contenders(
    msgs: list[Message], notes: list[str]
) -> tuple[list[Contender], list[Contender], list[Contender]]:
    """langchain_community and llama-index, each skipped with a note when absent."""
    append1: list[Contender] = []
    append10: list[Contender] = []
    history: list[Contender] = []
    history_msgs = msgs[:HISTORY]

    try:
        with warnings.catch_warnings():  # "langchain-community is being sunset"
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.chat_message_histories import RedisChatMessageHistory
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
    except ImportError as exc:
        notes.append(
            f"langchain_community skipped (not installed: {exc.name}); run with --with-peers"
        )
    else:
        lc_msgs: list[BaseMessage] = [
            (HumanMessage if m.role == "user" else AIMessage)(content=m.content) for m in msgs
        ]
        lc_prefix = "message_store:"

        def langchain(ttl: int | None) -> Callable[[redis.Redis, str], RedisChatMessageHistory]:
            def build(r: redis.Redis, key: str) -> RedisChatMessageHistory:
                # It takes a URL only; give it the run's client (same server, same parser).
                hist = RedisChatMessageHistory(key, url="redis://127.0.0.1:1/0", ttl=ttl)
                hist.redis_client = r
                return hist

            return build

        def lc_append(ttl: int | None) -> Callable[[redis.Redis, str], Op]:
            def make(r: redis.Redis, key: str) -> Op:
                hist = langchain(ttl)(r, key)
                nxt = _cycle(lc_msgs)
                return lambda: hist.add_message(nxt())

            return make

        def lc_batch(r: redis.Redis, key: str) -> Op:
            hist = langchain(None)(r, key)
            nxt = _cycle(_batches(lc_msgs, BATCH))
            return lambda: hist.add_messages(nxt())

        def lc_fill(r: redis.Redis, key: str) -> None:
            hist = langchain(None)(r, key)
            hist.clear()
            hist.add_messages(lc_msgs[:HISTORY])

        def lc_history(r: redis.Redis, key: str) -> Op:
            hist = langchain(None)(r, key)
            return lambda: hist.messages

        def lc_key(session: str) -> str:
            return lc_prefix + session

        version = importlib.metadata.version("langchain-community")
        append1 += [
            Contender(f"langchain_community {version}", lc_append(None)),
            Contender(f"langchain_community {version} ttl", lc_append(TTL_SECONDS)),
        ]
        append10.append(
            Contender(
                f"langchain_community {version}",
                lc_batch,
                note="add_messages: one LPUSH per message",
            )
        )
        history.append(
            Contender(
                f"langchain_community {version} .messages",
                lc_history,
                prepare=lc_fill,
            )
        )

    try:
        from llama_index.core.llms import ChatMessage
        from llama_index.storage.chat_store.redis import RedisChatStore
        from redis.asyncio import Redis as AsyncRedis
    except ImportError as exc:
        notes.append(
            f"llama-index RedisChatStore skipped (not installed: {exc.name}); run with --with-peers"
        )
    else:
        li_msgs = [ChatMessage(role=m.role, content=m.content) for m in msgs]

        def llama(r: redis.Redis, ttl: int | None) -> RedisChatStore:
            # aredis_client: an unused, never-connected placeholder; without it the
            # store builds one from its default URL and probes localhost:6379.
            return RedisChatStore(redis_client=r, aredis_client=AsyncRedis(), ttl=ttl)

        def li_append(ttl: int | None) -> Callable[[redis.Redis, str], Op]:
            def make(r: redis.Redis, key: str) -> Op:
                store = llama(r, ttl)
                nxt = _cycle(li_msgs)
                return lambda: store.add_message(key, nxt())

            return make

        def li_batch(r: redis.Redis, key: str) -> Op:
            store = llama(r, None)
            nxt = _cycle(_batches(li_msgs, BATCH))

            def op() -> None:
                for m in nxt():
                    store.add_message(key, m)

            return op

        def li_fill(r: redis.Redis, key: str) -> None:
            r.delete(key)
            store = llama(r, None)
            for m in li_msgs[:HISTORY]:
                store.add_message(key, m)

        def li_history(r: redis.Redis, key: str) -> Op:
            store = llama(r, None)
            return lambda: store.get_messages(key)

        version = importlib.metadata.version("llama-index-storage-chat-store-redis")
        append1 += [
            Contender(f"llama-index RedisChatStore {version}", li_append(None)),
            Contender(f"llama-index RedisChatStore {version} ttl", li_append(TTL_SECONDS)),
        ]
        append10.append(
            Contender(
                f"llama-index RedisChatStore {version}", li_batch, note="no batch API: 10 calls"
            )
        )
        history.append(
            Contender(
                f"llama-index RedisChatStore {version} get_messages", li_history, prepare=li_fill
            )
        )
    del history_msgs
    return append1, append10, history


def workloads(msgs: list[Message], notes: list[str], peers: bool) -> list[Workload]:
    a1, a10, hist = core_contenders(msgs)
    if peers:
        p1, p10, ph = peer_contenders(msgs, notes)
        a1, a10, hist = a1 + p1, a10 + p10, hist + ph
    else:
        notes.append("peers skipped (--no-peers)")
    return [
        Workload("append-1", "single append", "msgs", 1, a1[0].name, a1),
        Workload(
            "append-10",
            f"batch append ({BATCH} messages per call)",
            "msgs",
            BATCH,
            a10[0].name,
            a10,
        ),
        Workload(
            "history-100",
            f"get_history({HISTORY}), decoded",
            "histories",
            HISTORY,
            hist[0].name,
            hist,
            reads=True,
        ),
    ]


# -- measuring -----------------------------------------------------------------------


@dataclass
class Stat:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        return cls(statistics.median(values), min(values), max(values))


@dataclass
class Row:
    workload: str
    parser: str
    contender: str
    unit: str
    per_call: int
    calls_per_s: Stat
    msgs_per_s: Stat
    ratio: Stat  # against the workload's baseline, per round
    rounds: list[float] = field(default_factory=list)  # calls/s per round
    note: str = ""


def _elapsed_ns(op: Op, calls: int) -> int:
    """Wall time of ``calls`` back-to-back calls, garbage collector off (as timeit does)."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            op()
        return time.perf_counter_ns() - t0
    finally:
        if gc_was:
            gc.enable()


def run_workload(
    wl: Workload,
    clients: dict[str, redis.Redis],
    rounds: int,
    calls: int,
    slices: int,
    log: Callable[[str], None],
) -> list[Row]:
    """Time every (contender, parser) of a workload, interleaved.

    Each round runs every contender ``slices`` times for ``calls / slices`` calls, in
    a rotating order (A B C A B C ..., then B C A ...), so a burst of noise lands on
    all of them; a round's figure is a contender's total calls over its total time.
    """
    runs = [(c, p) for c in wl.contenders for p in clients]
    keys = {
        (c.name, p): f"{PREFIX}:{p}:{wl.name}:{i}:s"
        for i, c in enumerate(wl.contenders)
        for p in clients
    }
    ops: dict[tuple[str, str], Op] = {}
    stored: dict[tuple[str, str], list[bytes]] = {}  # every key a contender's session uses
    per_slice = max(1, calls // slices)
    for c, p in runs:
        key = keys[c.name, p]
        if c.prepare is not None:
            c.prepare(clients[p], key)
        ops[c.name, p] = op = c.make(clients[p], key)
        _elapsed_ns(op, max(20, per_slice // 2))  # warm-up: connection, script cache, imports
        stored[c.name, p] = session_keys(clients[p], key)
        if not wl.reads:
            _drop(clients[p], stored[c.name, p])
    per_round: dict[tuple[str, str], list[float]] = {(c.name, p): [] for c, p in runs}
    for rnd in range(rounds):
        spent = {run: 0 for run in per_round}
        for sl in range(slices):
            shift = (rnd * slices + sl) % len(runs)
            for c, p in runs[shift:] + runs[:shift]:
                spent[c.name, p] += _elapsed_ns(ops[c.name, p], per_slice)
                if not wl.reads:  # appends grow the list: each slice starts from nothing
                    _drop(clients[p], stored[c.name, p])
        for run, ns in spent.items():
            per_round[run].append(per_slice * slices * 1e9 / ns)
        log(f"  {wl.name}: round {rnd + 1}/{rounds}")
    for c, p in runs:
        _drop(clients[p], stored[c.name, p])
    rows = []
    for c, p in runs:
        rates = per_round[c.name, p]
        ratios = [x / b for x, b in zip(rates, per_round[wl.baseline, p], strict=True)]
        rows.append(
            Row(
                workload=wl.name,
                parser=p,
                contender=c.name,
                unit=wl.unit,
                per_call=wl.per_call,
                calls_per_s=Stat.of(rates),
                msgs_per_s=Stat.of([x * wl.per_call for x in rates]),
                ratio=Stat.of(ratios),
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


def _drop(client: redis.Redis, keys: list[bytes]) -> None:
    if keys:
        client.delete(*keys)


def _commandstats(admin: redis.Redis) -> dict[str, tuple[int, int]]:
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
    bytes_per_msg: float | None = None  # MEMORY USAGE of every key of the session / messages
    keys_per_session: int | None = None


def measure_static(
    wl: Workload, client: redis.Redis, admin: redis.Redis, calls: int = 200
) -> list[Static]:
    """Round trips (client writes) and server commands (INFO commandstats) per call;
    bytes per message of a 100-message session (MEMORY USAGE ... SAMPLES 0)."""
    out: list[Static] = []
    for i, c in enumerate(wl.contenders):
        key = f"{PREFIX}:static:{wl.name}:{i}:s"
        if c.prepare is not None:
            c.prepare(client, key)
        op = c.make(client, key)
        # Warm up (script cache, connection) and, for appends, fill the window so that
        # what is counted is the steady state, trim included.
        for _ in range(3 if wl.reads else WINDOW // wl.per_call + 3):
            op()
        before = _commandstats(admin)
        with counting_sends() as sent:
            for _ in range(calls):
                op()
        after = _commandstats(admin)
        changed = [n for n in sorted(after) if n != "info" and after[n] != before.get(n, (0, 0))]
        commands = {n: round((after[n][0] - before.get(n, (0, 0))[0]) / calls, 2) for n in changed}
        # Time inside the server; a script's own time includes the commands it calls.
        top = [
            n
            for n in changed
            if n not in ("rpush", "lpush", "sadd", "ltrim", "pexpire")
            or not any(x in changed for x in ("evalsha", "eval", "fcall"))
        ]
        usec = sum(after[n][1] - before.get(n, (0, 0))[1] for n in top) / calls
        row = Static(wl.name, c.name, round(sent[0] / calls, 2), commands, round(usec, 1))
        used = session_keys(admin, key)
        if wl.reads:  # the session holds the HISTORY messages that prepare() wrote
            usage = sum(admin.memory_usage(k, samples=0) or 0 for k in used)
            row.bytes_per_msg = round(usage / HISTORY, 1)
            row.keys_per_session = len(used)
        _drop(client, used)
        out.append(row)
    return out


# -- servers, parsers, machine -------------------------------------------------------


PARSERS: dict[str, type] = {"hiredis": _HiredisParser, "python": _RESP2Parser}


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "memfix_commit": _git("rev-parse", "--short", "HEAD"),
        "memfix_dirty": bool(_git("status", "--porcelain", "--", "memfix")),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "memfix": memfix.__version__,
        "redis-py": version("redis"),
        "hiredis": version("hiredis"),
        "msgspec": version("msgspec"),
        "langchain-community": version("langchain-community"),
        "llama-index-storage-chat-store-redis": version("llama-index-storage-chat-store-redis"),
    }


def _git(*args: str) -> str:
    """Output of a git command in the checkout this script belongs to ("" without git)."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def install_peers() -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "-q",
        *PEER_REQUIREMENTS,
    ]
    print("installing the optional peers:", " ".join(cmd[3:]), flush=True)
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0:
        print("pip failed: the peers that did not install are skipped", flush=True)


def time_server_starts(specs: list[ServerSpec], repeat: int) -> list[dict[str, Any]]:
    """Wall time from ``spec.start()`` to a server that answers PING."""
    rows: list[dict[str, Any]] = []
    for spec in specs:
        times: list[float] = []
        try:
            for _ in range(repeat):
                t0 = time.perf_counter_ns()
                with spec.start() as srv:
                    srv.client.ping()
                    times.append((time.perf_counter_ns() - t0) / 1e6)
        except Exception as exc:  # a broken spec is reported, not fatal
            rows.append({"server": spec.id, "backend": spec.backend, "error": str(exc)})
            continue
        rows.append(
            {"server": spec.id, "backend": spec.backend, "start_ms": asdict(Stat.of(times))}
        )
    return rows


def all_specs(notes: list[str], *, docker: bool) -> list[ServerSpec]:
    """Every local server, plus the Docker images when an engine answers."""
    try:
        specs = discover(docker=None if docker else False)
    except ServerError as exc:
        notes.append(f"server discovery: {exc}")
        return []
    if docker and not any(s.backend == "docker" for s in specs):
        from memfix.servers import docker as docker_backend

        reason = docker_backend.engine_unavailable_reason() or "no memfix images"
        notes.append(f"Docker containers not measured: {reason}")
    return specs


def verify_committed(specs: list[ServerSpec], notes: list[str]) -> list[dict[str, Any]]:
    """``verify`` wall time of each committed golden (``golden/``) on each server."""
    try:
        from memfix.goldens import find_goldens, verify_golden
    except ImportError as exc:
        notes.append(f"committed goldens not verified: {exc}")
        return []
    root = Path(__file__).resolve().parent.parent / "golden"
    rows: list[dict[str, Any]] = []
    for golden in find_goldens(root):
        for spec in specs:
            t0 = time.perf_counter()
            try:
                result = verify_golden(golden, [spec])
            except Exception as exc:  # reported, not fatal: this is a benchmark
                rows.append({"golden": golden.version, "server": spec.id, "error": str(exc)})
                continue
            rows.append(
                {
                    "golden": golden.version,
                    "server": spec.id,
                    "seconds": round(time.perf_counter() - t0, 3),
                    "status": "FAIL" if any(r.failed for r in result) else "ok",
                    "modes": {r.mode: round(r.seconds, 3) for r in result if r.mode != "files"},
                    "messages": max((r.messages for r in result), default=0),
                }
            )
    return rows


# -- output --------------------------------------------------------------------------


def _si(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def _spread(s: Stat) -> str:
    return f"{_si(s.low)}-{_si(s.high)}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    return "\n".join(out)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(out)


def render(result: dict[str, Any], *, md: bool = False) -> str:
    """The results as terminal text, or as Markdown (for docs/benchmarks.md)."""
    lines: list[str] = []
    emit = lines.append

    def tab(headers: list[str], rows: list[list[str]]) -> str:
        return markdown_table(headers, rows) if md else table(headers, rows)

    def head(text: str) -> str:
        return f"\n#### {text}\n" if md else f"\n{text}"

    rows = [
        Row(**{**r, **{k: Stat(**r[k]) for k in ("calls_per_s", "msgs_per_s", "ratio")}})
        for r in result["rows"]
    ]
    static = {(s["workload"], s["contender"]): s for s in result["static"]}
    for wl in result["workloads"]:
        for parser in result["parsers"]:
            sel = [r for r in rows if r.workload == wl["name"] and r.parser == parser]
            if not sel:
                continue
            unit = wl["unit"]
            emit(head(f"{wl['title']} [{parser} parser]; baseline: {wl['baseline']}"))
            body = []
            for r in sel:
                st = static.get((r.workload, r.contender), {})
                cells = [r.contender, _si(r.calls_per_s.median), _spread(r.calls_per_s)]
                if unit == "histories":
                    cells.append(_si(r.msgs_per_s.median))
                cells += [f"{r.ratio.median:.2f}x", f"{r.ratio.low:.2f}-{r.ratio.high:.2f}"]
                if parser == result["parsers"][0]:
                    cells.append(f"{st.get('round_trips', '?')}")
                    cells.append(
                        " ".join(f"{k}:{v:g}" for k, v in st.get("server_commands", {}).items())
                    )
                    cells.append(f"{st.get('server_usec', float('nan')):.1f}")
                    if unit == "histories":
                        b = st.get("bytes_per_msg")
                        cells.append("?" if b is None else f"{b:.0f}")
                        cells.append(str(st.get("keys_per_session", "?")))
                else:
                    cells += ["", "", ""] + (["", ""] if unit == "histories" else [])
                body.append(cells)
            headers = ["contender", f"{unit}/s", "spread"]
            if unit == "histories":
                headers.append("msgs/s")
            headers += [
                "ratio",
                "ratio spread",
                "round trips/call",
                "server cmds/call",
                "server µs/call",
            ]
            if unit == "histories":
                headers += ["B/msg", "keys"]
            emit(tab(headers, body))
    if result.get("parser_effect"):
        emit(head("hiredis vs pure-Python parser (median of per-round hiredis/python rates):"))
        emit(
            tab(
                ["workload", "contender", "hiredis/python", "spread"],
                [
                    [
                        p["workload"],
                        p["contender"],
                        f"{p['speedup']['median']:.2f}x",
                        f"{p['speedup']['low']:.2f}-{p['speedup']['high']:.2f}",
                    ]
                    for p in result["parser_effect"]
                ],
            )
        )
    if result.get("server_starts"):
        emit(head("fresh server start (spec.start() until PING answers), ms:"))
        emit(
            tab(
                ["server", "backend", "median", "spread"],
                [
                    [
                        s["server"],
                        s["backend"],
                        f"{s['start_ms']['median']:.0f}" if "start_ms" in s else "error",
                        f"{s['start_ms']['low']:.0f}-{s['start_ms']['high']:.0f}"
                        if "start_ms" in s
                        else s.get("error", "")[:60],
                    ]
                    for s in result["server_starts"]
                ],
            )
        )
    if result.get("committed_goldens"):
        emit(head("committed goldens: `verify` wall time per golden and server, s:"))
        emit(
            tab(
                ["golden", "server", "messages", "total", "json", "rdb", "status"],
                [
                    [
                        c["golden"],
                        c["server"],
                        str(c.get("messages", "")),
                        f"{c['seconds']:.2f}" if "seconds" in c else "error",
                        f"{c.get('modes', {}).get('json', float('nan')):.2f}",
                        f"{c.get('modes', {}).get('rdb', float('nan')):.2f}",
                        c.get("status", c.get("error", ""))[:50],
                    ]
                    for c in result["committed_goldens"]
                ],
            )
        )
    if result.get("goldens"):
        _goldens_lines(result["goldens"], emit, tab, head)
    emit(head("targets:"))
    for t in result["targets"]:
        emit(
            f"  [{'met' if t['met'] else 'NOT met' if t['met'] is False else 'n/a'}] "
            f"{t['target']}: {t['measured']}"
        )
    for note in result["notes"]:
        emit(f"note: {note}")
    return "\n".join(lines)


def _goldens_lines(
    g: dict[str, Any],
    emit: Callable[[str], None],
    tab: Callable[[list[str], list[list[str]]], str],
    head: Callable[[str], str],
) -> None:
    if g.get("skipped"):
        emit(head(f"goldens: {g['skipped']}"))
        return
    emit(head(f"goldens on {g['server']} (median of {g['repeat']}; restore in messages/s):"))
    emit(
        tab(
            [
                "messages",
                "dump.json MB",
                "dump.rdb MB",
                "json parse+replay",
                "replay only",
                "rdb (start+load)",
                "verify s",
                "  json row",
                "  rdb row",
            ],
            [
                [
                    f"{r['messages']:,}",
                    f"{r['json_mb']:.1f}",
                    f"{r['rdb_mb']:.1f}",
                    _si(r["restore_json"]["median"]),
                    _si(r["restore_json_replay_only"]["median"]),
                    _si(r["restore_rdb"]["median"]),
                    f"{r['verify_s']['median']:.2f}",
                    f"{r['verify_json_s']['median']:.2f}",
                    f"{r['verify_rdb_s']['median']:.2f}",
                ]
                for r in g["sizes"]
            ],
        )
    )


# -- targets -------------------------------------------------------------------------


def _find(rows: list[Row], workload: str, contender_prefix: str, parser: str) -> Row | None:
    for r in rows:
        if (
            r.workload == workload
            and r.parser == parser
            and r.contender.startswith(contender_prefix)
        ):
            return r
    return None


def evaluate_targets(
    rows: list[Row], static: list[Static], parser: str, goldens: dict[str, Any] | None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(target: str, met: bool | None, measured: str) -> None:
        out.append({"target": target, "met": met, "measured": measured})

    tw = _find(rows, "append-1", "memfix ttl+window", parser)
    rtt = next(
        (
            s.round_trips
            for s in static
            if s.workload == "append-1" and s.contender == "memfix ttl+window"
        ),
        None,
    )
    if tw is not None:
        add(
            "append with TTL + window: 1 round trip, >= 0.90x raw RPUSH",
            tw.ratio.median >= 0.9 and rtt == 1,
            f"{rtt} round trip, {tw.ratio.median:.2f}x (spread {tw.ratio.low:.2f}-"
            f"{tw.ratio.high:.2f})",
        )
    h = _find(rows, "history-100", "memfix", parser)
    if h is not None:
        add(
            "get_history(100) -> Message: >= 0.85x raw LRANGE (no decoding)",
            h.ratio.median >= 0.85,
            f"{h.ratio.median:.2f}x (spread {h.ratio.low:.2f}-{h.ratio.high:.2f})",
        )
        for prefix, want in (("langchain", 5.0), ("llama", 3.0)):
            peer = _find(rows, "history-100", prefix, parser)
            if peer is None:
                add(f"get_history(100) >= {want:g}x {prefix}", None, "peer not installed")
                continue
            per_round = [a / b for a, b in zip(h.rounds, peer.rounds, strict=True)]
            ratio = statistics.median(per_round)
            add(
                f"get_history(100) >= {want:g}x {peer.contender.split(' .')[0]}",
                ratio >= want,
                f"{ratio:.2f}x (spread {min(per_round):.2f}-{max(per_round):.2f})",
            )
    if goldens and not goldens.get("skipped"):
        sizes = goldens["sizes"]
        best = max(sizes, key=lambda r: r["messages"])
        rate = best["restore_json"]["median"]
        add(
            "restore of a JSON dump >= 200k msgs/s",
            rate >= 200_000,
            f"{_si(rate)} msgs/s at {best['messages']:,} messages",
        )
        big = [r for r in sizes if r["messages"] >= 1_000_000]
        if big:
            t = big[0]["verify_s"]["median"]
            add("1M-message golden verifies in < 30 s (local server)", t < 30, f"{t:.1f} s")
        else:
            add(
                "1M-message golden verifies in < 30 s (local server)",
                None,
                "not run (full run only)",
            )
    return out


# -- goldens -------------------------------------------------------------------------


def bench_goldens(
    spec: ServerSpec, sizes: list[int], repeat: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Restore throughput and ``verify`` wall time of synthetic goldens of growing size.

    Each golden holds ``n`` messages in sessions of 100 (written by memfix on a fresh
    server, dumped exactly as ``memfix record`` does); then, ``repeat`` times:
    restore ``dump.json`` into a fresh server (parse + replay), start a fresh server
    on ``dump.rdb``, and run ``verify_golden`` on ``spec``.
    """
    try:
        from memfix.goldens import Golden, read_dump, restore_dump, verify_golden
    except ImportError as exc:
        return {"skipped": f"not yet measured (memfix.goldens unavailable: {exc})"}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="memfix-bench-goldens-") as tmp:
        for n in sizes:
            log(f"  goldens: building a {n:,}-message golden")
            golden = _synthetic_golden(Path(tmp) / str(n), spec, n)
            json_rates, json_replay, rdb_rates, verify_json, verify_rdb, verify_total = (
                [],
                [],
                [],
                [],
                [],
                [],
            )
            passes = repeat if n <= 100_000 else 1  # a 1M pass takes about a minute
            for i in range(passes):
                log(f"  goldens: {n:,} messages, pass {i + 1}/{passes}")
                t0 = time.perf_counter()
                dump = read_dump(golden.json_path)
                t1 = time.perf_counter()
                with spec.start() as srv:
                    t2 = time.perf_counter()
                    restore_dump(dump, srv.client)
                    t3 = time.perf_counter()
                del dump
                json_rates.append(n / ((t1 - t0) + (t3 - t2)))
                json_replay.append(n / (t3 - t2))
                t0 = time.perf_counter()
                with spec.start(dump=golden.rdb_path) as srv:
                    srv.client.ping()
                    rdb_rates.append(n / (time.perf_counter() - t0))
                fresh = Golden.open(golden.path)  # no cached parse: verify reads it all
                t0 = time.perf_counter()
                result = verify_golden(fresh, [spec])
                verify_total.append(time.perf_counter() - t0)
                bad = [r for r in result if r.status == "FAIL"]
                if bad:
                    return {"skipped": f"verify failed on the synthetic golden: {bad[0].detail}"}
                verify_json += [r.seconds for r in result if r.mode == "json"]
                verify_rdb += [r.seconds for r in result if r.mode == "rdb"]
            rows.append(
                {
                    "messages": n,
                    "json_mb": golden.json_path.stat().st_size / 1e6,
                    "rdb_mb": golden.rdb_path.stat().st_size / 1e6,
                    "restore_json": asdict(Stat.of(json_rates)),
                    "restore_json_replay_only": asdict(Stat.of(json_replay)),
                    "restore_rdb": asdict(Stat.of(rdb_rates)),
                    "verify_s": asdict(Stat.of(verify_total)),
                    "verify_json_s": asdict(Stat.of(verify_json)),
                    "verify_rdb_s": asdict(Stat.of(verify_rdb or [float("nan")])),
                }
            )
            shutil.rmtree(golden.path, ignore_errors=True)
    return {"server": spec.id, "repeat": f"{repeat} (1 above 100k)", "sizes": rows}


def _synthetic_golden(path: Path, spec: ServerSpec, n: int) -> Any:
    """A golden directory of ``n`` messages, written by the same code as ``memfix record``."""
    from memfix import schemas
    from memfix.goldens import write_golden
    from memfix.goldens.manifest import ScenarioInfo

    msgs = corpus(min(n, 1000))
    with spec.start() as srv:
        store = RedisMemoryStore(srv.client)
        pipe = srv.client.pipeline(transaction=False)
        piped = RedisMemoryStore(pipe)  # a Pipeline is a Redis: appends are queued
        for s in range(0, n, HISTORY):
            piped.append_messages(f"bench-{s // HISTORY:06d}", msgs[: min(HISTORY, n - s)])
            if len(pipe) >= 100:
                pipe.execute()
        pipe.execute()
        assert sum(store.count(x) for x in store.sessions()) == n
        scenario = ScenarioInfo(
            name="bench",
            seed="bench",
            previous_golden=None,
            description=f"{n} synthetic messages (scripts/bench.py)",
        )
        # A golden lives in a directory named after its schema version.
        return write_golden(srv, path / schemas.CURRENT_VERSION, scenario=scenario)


# -- main ----------------------------------------------------------------------------


@contextlib.contextmanager
def open_server(args: argparse.Namespace) -> Iterator[tuple[Server, str]]:
    if args.url:
        srv = connect_existing(args.url, allow_write=False)
        yield srv, args.url
        return
    spec = select_spec(args.server) if args.server else default_spec()
    with spec.start() as srv:
        yield srv, spec.id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a short run (<30 s)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 7; quick: 3)")
    ap.add_argument("--server", help="server id or prefix (default: memfix's default server)")
    ap.add_argument("--url", help="benchmark a running server instead (its db must be empty)")
    ap.add_argument("--parsers", default="both", choices=["both", "hiredis", "python"])
    ap.add_argument(
        "--with-peers",
        action="store_true",
        help="pip-install langchain-community and llama-index's RedisChatStore",
    )
    ap.add_argument("--no-peers", action="store_true", help="raw, memfix and article only")
    ap.add_argument("--no-goldens", action="store_true", help="skip the golden benchmarks")
    ap.add_argument("--no-docker", action="store_true", help="no Docker containers")
    ap.add_argument(
        "--golden-sizes",
        default=None,
        help="comma-separated message counts (default 1000,10000,100000,1000000; "
        "quick: 1000,10000)",
    )
    ap.add_argument("--json", default="bench-results.json", help="where to write the results")
    ap.add_argument("--markdown", help="also write the tables as Markdown to this file")
    ap.add_argument(
        "--render", metavar="JSON", help="only print the tables of an earlier run's JSON file"
    )
    args = ap.parse_args(argv)

    if args.render:
        earlier = json.loads(Path(args.render).read_text())
        print(render(earlier))
        if args.markdown:
            Path(args.markdown).write_text(render(earlier, md=True) + "\n")
        return 0
    if args.with_peers:
        install_peers()
    rounds = args.rounds or (3 if args.quick else 7)
    slices = 3 if args.quick else 5
    scale = 0.15 if args.quick else 1.0
    calls = {
        "append-1": int(3000 * scale),
        "append-10": int(600 * scale),
        "history-100": int(800 * scale),
    }
    parsers = ["hiredis", "python"] if args.parsers == "both" else [args.parsers]
    if "hiredis" in parsers and not HIREDIS_AVAILABLE:
        parsers.remove("hiredis")
    notes: list[str] = []
    if not HIREDIS_AVAILABLE:
        notes.append("hiredis is not installed: pure-Python parser only")
    msgs = corpus(4000)
    wls = workloads(msgs, notes, peers=not args.no_peers)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    rows: list[Row] = []
    static: list[Static] = []
    with open_server(args) as (srv, server_id):
        log(f"server: {server_id} at {srv.url}; rounds: {rounds}; parsers: {', '.join(parsers)}")
        admin = srv.new_client()
        clients = {p: srv.new_client(parser_class=PARSERS[p]) for p in parsers}
        for wl in wls:
            rows += run_workload(wl, clients, rounds, calls[wl.name], slices, log)
            static += measure_static(
                wl, clients[parsers[0]], admin, calls=50 if args.quick else 200
            )
        server_info = admin.info("server")
        server_version = server_info.get("valkey_version") or server_info.get("redis_version")
        for c in clients.values():
            c.close()
        admin.close()

    parser_effect = []
    if len(parsers) == 2:
        for r in rows:
            if r.parser != "hiredis":
                continue
            other = next(
                o
                for o in rows
                if o.parser == "python" and o.workload == r.workload and o.contender == r.contender
            )
            per_round = [a / b for a, b in zip(r.rounds, other.rounds, strict=True)]
            parser_effect.append(
                {
                    "workload": r.workload,
                    "contender": r.contender,
                    "speedup": asdict(Stat.of(per_round)),
                }
            )

    starts: list[dict[str, Any]] = []
    goldens: dict[str, Any] | None = None
    committed: list[dict[str, Any]] = []
    if not args.url:
        spec = select_spec(args.server) if args.server else default_spec()
        others = all_specs(notes, docker=not args.no_docker)
        if args.quick:  # the default server and one container
            others = [o for o in others if o.backend == "docker"][:1]
        log("server starts")
        starts = time_server_starts(
            [spec, *[o for o in others if o != spec]], repeat=3 if args.quick else 5
        )
        if not args.no_goldens:
            log("committed goldens: verify per golden and server")
            committed = verify_committed([spec, *[o for o in others if o != spec]], notes)
            sizes = [
                int(s)
                for s in (
                    args.golden_sizes
                    or ("1000,10000" if args.quick else "1000,10000,100000,1000000")
                ).split(",")
            ]
            goldens = bench_goldens(spec, sizes, repeat=1 if args.quick else 3, log=log)

    result: dict[str, Any] = {
        "memfix_bench": 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "machine": machine(),
        "server": {"id": server_id, "version": server_version},
        "rounds": rounds,
        "calls": calls,
        "parsers": parsers,
        "options": {
            "ttl_s": TTL_SECONDS,
            "window": WINDOW,
            "history": HISTORY,
            "batch": BATCH,
            "content_chars": 200,
        },
        "workloads": [
            {"name": w.name, "title": w.title, "unit": w.unit, "baseline": w.baseline} for w in wls
        ],
        "rows": [asdict(r) for r in rows],
        "static": [asdict(s) for s in static],
        "parser_effect": parser_effect,
        "server_starts": starts,
        "committed_goldens": committed,
        "goldens": goldens,
        "targets": evaluate_targets(rows, static, parsers[0], goldens),
        "notes": notes,
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))
    if args.markdown:
        Path(args.markdown).write_text(render(result, md=True) + "\n")
    print(f"\nresults: {args.json} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
