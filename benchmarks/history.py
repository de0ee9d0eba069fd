"""Read workloads: the newest N messages of a session, decoded to each store's own type.

Baselines: ``LRANGE`` plus an untyped msgspec decode of each record (the least
any store must do to hand back the fields), and ``LRANGE`` alone (bytes).
Also shown: ``LRANGE`` plus a typed decode into the released wire struct
(the current version's ``decode``), what a store that did not build its own model would return.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import msgspec
import redis

from benchmarks.append import article_message
from benchmarks.harness import Contender, Op, Workload
from memfix import Message, RedisMemoryStore, schemas
from tests.article_store import ArticleRedisMemoryStore

UNTYPED = "LRANGE + untyped msgspec decode"
LRANGE = "raw LRANGE (bytes, no decoding)"


def _key(session: str) -> str:
    return f"session:{session}:messages"


def reads(
    msgs: list[Message], n: int, calls: int, *, gc: bool, name: str, full: bool = True
) -> Workload:
    """``get_history(n)`` over a session of ``len(msgs)`` current records (``n=0``: all)."""
    encoded = [schemas.encode_message(m) for m in msgs]
    start = -n if n else 0
    limit = n or None

    def fill(r: redis.Redis, key: str) -> None:
        r.delete(_key(key))
        for i in range(0, len(encoded), 1000):
            r.rpush(_key(key), *encoded[i : i + 1000])

    def fill_article(r: redis.Redis, key: str) -> None:
        r.delete(_key(key))
        r.rpush(_key(key), *[json.dumps(asdict(article_message(m))).encode() for m in msgs])

    def lrange(r: redis.Redis, key: str) -> Op:
        k = _key(key)
        return lambda: r.lrange(k, start, -1)

    def untyped(r: redis.Redis, key: str) -> Op:
        k = _key(key)
        decode = msgspec.msgpack.decode
        return lambda: [decode(raw) for raw in r.lrange(k, start, -1)]  # type: ignore[arg-type]

    def typed(r: redis.Redis, key: str) -> Op:
        k = _key(key)
        decode = schemas.RELEASED[schemas.CURRENT_VERSION].decode
        return lambda: [decode(raw) for raw in r.lrange(k, start, -1)]

    def json_loads(r: redis.Redis, key: str) -> Op:
        k = _key(key)
        loads = json.loads
        return lambda: [loads(raw) for raw in r.lrange(k, start, -1)]

    def memfix(r: redis.Redis, key: str) -> Op:
        store = RedisMemoryStore(r)
        return lambda: store.get_history(key, limit)

    def article(r: redis.Redis, key: str) -> Op:
        store = ArticleRedisMemoryStore(r)
        return lambda: store.get_history(key, n or len(msgs))

    contenders = [
        Contender(UNTYPED, untyped, fill),
        Contender(LRANGE, lrange, fill),
        Contender("memfix get_history -> Message", memfix, fill),
    ]
    if full:
        contenders += [
            Contender(f"LRANGE + v{schemas.CURRENT_VERSION}.decode (wire structs)", typed, fill),
            Contender(
                "memfix get_history over 1.0 JSON records",
                memfix,
                fill_article,
                note="legacy data: the article wrote it, memfix upcasts it",
            ),
            Contender("LRANGE + json.loads (article JSON, dicts)", json_loads, fill_article),
            Contender("article get_history (dataclass)", article, fill_article),
        ]
    what = f"get_history({n})" if n else f"get_history(limit=None) of {len(msgs):,}"
    size = len(msgs[0].content) if msgs else 0
    return Workload(
        name=name,
        title=f"{what}, {size:,}-char messages, GC {'on' if gc else 'off'}",
        unit="histories",
        per_call=n or len(msgs),
        baselines=[UNTYPED, LRANGE],
        contenders=contenders,
        calls=calls,
        reads=True,
        gc=gc,
    )
