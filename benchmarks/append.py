"""Append workloads, in the steady state: each session's window is full before timing.

Baselines: a minimal hand-written one-script append doing the same work as
memfix with TTL and window: encode the message (one msgspec call on a tuple of
its wire fields, no checks), then one ``EVALSHA`` through ``execute_command`` of
a script that looks the record up among the newest 100 (LPOS), RPUSHes, LTRIMs
and PEXPIREs; the limit any store built on a script can reach. The same script
with records encoded before the timing (what is left when encoding is free). And
a raw RPUSH of pre-encoded records, which no script can reach (a bare EVALSHA
costs more than an RPUSH).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import msgspec
import redis

from benchmarks.corpus import batches, cycle
from benchmarks.harness import Contender, Op, Workload
from memfix import Message, RedisMemoryStore, schemas
from tests.article_store import ArticleMessage, ArticleRedisMemoryStore

TTL_SECONDS = 3600
WINDOW = 100  # a chat window of 100 messages: every append trims once it is full
BATCH = 10

MINIMAL = "minimal script (encode + EVALSHA)"
PRE_ENCODED = "minimal script, pre-encoded"
RAW = "raw RPUSH (pre-encoded)"


def hand_encode(m: Message) -> bytes:
    """What a hand-written store writes: the current record (from 1.6 the model's own
    fields, in its order), one msgspec call, no checks."""
    return _encoder.encode(
        (m.role, m.content, m.timestamp, m.metadata, m.id, m.name, [], m.tool_call_id)
    )


_encoder = msgspec.msgpack.Encoder()

# The least a script can do for an idempotent append with TTL and window.
MINIMAL_SCRIPT = """
local n = 0
for i = 2, #ARGV do
  if not redis.call('LPOS', KEYS[1], ARGV[i], 'RANK', -1, 'MAXLEN', 100) then
    n = redis.call('RPUSH', KEYS[1], ARGV[i])
  end
end
if n > 100 then redis.call('LTRIM', KEYS[1], -100, -1) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
"""

# The design memfix had before: an id set beside the list (grows with every append).
ID_SET_SCRIPT = """
if redis.call('SADD', KEYS[2], ARGV[2]) == 1 then
  local n = redis.call('RPUSH', KEYS[1], ARGV[3])
  if n > 100 then redis.call('LTRIM', KEYS[1], -100, -1) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""


def article_message(m: Message) -> ArticleMessage:
    return ArticleMessage(role=m.role, content=m.content, timestamp=m.timestamp)


def _fill_memfix(msgs: list[Message], **options: Any) -> Callable[[redis.Redis, str], None]:
    def fill(r: redis.Redis, key: str) -> None:
        RedisMemoryStore(r, **options).append_messages(key, msgs[-WINDOW:])

    return fill


def _fill_raw(encoded: list[bytes], key_of: Callable[[str], str]) -> Callable[..., None]:
    def fill(r: redis.Redis, key: str) -> None:
        r.rpush(key_of(key), *encoded[-WINDOW:])

    return fill


def _memfix_key(session: str) -> str:
    return f"session:{session}:messages"


def single(
    msgs: list[Message], calls: int, *, name: str = "append-1", full: bool = True
) -> Workload:
    """One message per call. ``full``: every contender; else the target pair only."""
    encoded = [schemas.encode_message(m) for m in msgs]
    article_msgs = [article_message(m) for m in msgs]
    json_encoded = [json.dumps(asdict(m)).encode() for m in article_msgs]
    ttl_ms = str(TTL_SECONDS * 1000).encode()

    def raw_rpush(r: redis.Redis, key: str) -> Op:
        nxt = cycle(json_encoded)
        return lambda: r.rpush(key, nxt())

    def raw_rpush_expire(r: redis.Redis, key: str) -> Op:
        nxt = cycle(json_encoded)

        def op() -> None:
            r.rpush(key, nxt())
            r.expire(key, TTL_SECONDS)

        return op

    def minimal(r: redis.Redis, key: str) -> Op:
        sha = r.script_load(MINIMAL_SCRIPT)
        nxt = cycle(msgs)
        run = r.execute_command
        k = _memfix_key(key)
        return lambda: run("EVALSHA", sha, 1, k, ttl_ms, hand_encode(nxt()))  # type: ignore[no-untyped-call]

    def pre_encoded(r: redis.Redis, key: str) -> Op:
        sha = r.script_load(MINIMAL_SCRIPT)
        nxt = cycle(encoded)
        run = r.execute_command
        k = _memfix_key(key)
        return lambda: run("EVALSHA", sha, 1, k, ttl_ms, nxt())  # type: ignore[no-untyped-call]

    def id_set(r: redis.Redis, key: str) -> Op:
        sha = r.script_load(ID_SET_SCRIPT)
        nxt = cycle(list(zip([m.id for m in msgs], encoded, strict=True)))
        run = r.execute_command
        k, ids = _memfix_key(key), f"{{{_memfix_key(key)}}}:ids"

        def op() -> None:
            i, rec = nxt()
            run("EVALSHA", sha, 2, k, ids, ttl_ms, i, rec)  # type: ignore[no-untyped-call]

        return op

    def memfix(**options: Any) -> Callable[[redis.Redis, str], Op]:
        def make(r: redis.Redis, key: str) -> Op:
            store = RedisMemoryStore(r, **options)
            nxt = cycle(msgs)
            append = store.append_message
            return lambda: append(key, nxt())

        return make

    def article(r: redis.Redis, key: str) -> Op:
        store = ArticleRedisMemoryStore(r)
        nxt = cycle(article_msgs)
        return lambda: store.append_message(key, nxt())

    tw = {"ttl": TTL_SECONDS, "max_messages": WINDOW}
    contenders = [
        Contender(MINIMAL, minimal, _fill_raw(encoded, _memfix_key)),
        Contender(PRE_ENCODED, pre_encoded, _fill_raw(encoded, _memfix_key)),
        Contender(RAW, raw_rpush, _fill_raw(json_encoded, lambda k: k)),
        Contender("memfix ttl+window", memfix(**tw), _fill_memfix(msgs, **tw)),
    ]
    if full:
        contenders += [
            Contender("memfix", memfix(), _fill_memfix(msgs)),
            Contender("memfix ttl", memfix(ttl=TTL_SECONDS), _fill_memfix(msgs)),
            Contender("memfix window", memfix(max_messages=WINDOW), _fill_memfix(msgs)),
            Contender(
                "minimal script, id set (memfix's earlier design)",
                id_set,
                _fill_raw(encoded, _memfix_key),
                note="SADD of the id into a set that never shrinks",
            ),
            Contender("raw RPUSH + EXPIRE", raw_rpush_expire, note="the peers' TTL pattern"),
            Contender("article (dataclass+json)", article),
        ]
    size = len(msgs[0].content) if msgs else 0
    return Workload(
        name=name,
        title=f"single append, {size:,}-char messages, window full (steady state)",
        unit="msgs",
        per_call=1,
        baselines=[MINIMAL, PRE_ENCODED, RAW],
        contenders=contenders,
        calls=calls,
    )


def batch(msgs: list[Message], calls: int) -> Workload:
    """``BATCH`` messages per call (``append_messages``: one command)."""
    encoded = [schemas.encode_message(m) for m in msgs]
    msg_batches = batches(msgs, BATCH)
    article_batches = batches([article_message(m) for m in msgs], BATCH)
    json_batches = batches([json.dumps(asdict(article_message(m))).encode() for m in msgs], BATCH)
    ttl_ms = str(TTL_SECONDS * 1000).encode()

    def raw_rpush(r: redis.Redis, key: str) -> Op:
        nxt = cycle(json_batches)
        return lambda: r.rpush(key, *nxt())

    def minimal(r: redis.Redis, key: str) -> Op:
        sha = r.script_load(MINIMAL_SCRIPT)
        nxt = cycle(msg_batches)
        run = r.execute_command
        k = _memfix_key(key)
        records = lambda: [hand_encode(m) for m in nxt()]  # noqa: E731
        return lambda: run("EVALSHA", sha, 1, k, ttl_ms, *records())  # type: ignore[no-untyped-call]

    def memfix(**options: Any) -> Callable[[redis.Redis, str], Op]:
        def make(r: redis.Redis, key: str) -> Op:
            store = RedisMemoryStore(r, **options)
            nxt = cycle(msg_batches)
            return lambda: store.append_messages(key, nxt())

        return make

    def article(r: redis.Redis, key: str) -> Op:
        store = ArticleRedisMemoryStore(r)
        nxt = cycle(article_batches)

        def op() -> None:
            for m in nxt():
                store.append_message(key, m)

        return op

    tw = {"ttl": TTL_SECONDS, "max_messages": WINDOW}
    return Workload(
        name="append-10",
        title=f"batch append ({BATCH} messages per call), window full",
        unit="msgs",
        per_call=BATCH,
        baselines=[f"{MINIMAL} x{BATCH}", f"raw RPUSH x{BATCH} (pre-encoded)"],
        contenders=[
            Contender(f"{MINIMAL} x{BATCH}", minimal, _fill_raw(encoded, _memfix_key)),
            Contender(f"raw RPUSH x{BATCH} (pre-encoded)", raw_rpush),
            Contender("memfix ttl+window", memfix(**tw), _fill_memfix(msgs, **tw)),
            Contender("memfix", memfix(), _fill_memfix(msgs)),
            Contender("article (dataclass+json)", article, note="no batch API: 10 calls"),
        ],
        calls=calls,
    )
