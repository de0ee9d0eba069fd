"""What a session costs the server: bytes per message, and reads of long lists.

Bytes per message: ``MEMORY USAGE key SAMPLES 0`` summed over every key of a
100-message session (the list and any companion key), divided by 100, for
memfix, the seed article's JSON store and raw RPUSH of the article's JSON, at
each message size. Also the growth check: 2,000 appends through a window of 100.

Long lists: server time of ``LRANGE key -100 -1`` (INFO commandstats) and wall
time of ``get_history(100)`` as a session grows, on each server asked for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import redis

from benchmarks.append import article_message
from benchmarks.corpus import SIZES, corpus
from benchmarks.harness import Stat, commandstats, drop, session_keys
from memfix import Message, RedisMemoryStore, schemas
from memfix.servers import ServerSpec
from tests.article_store import ArticleRedisMemoryStore

SESSION = 100


def _usage(client: redis.Redis, session: str) -> tuple[int, int]:
    keys = session_keys(client, session)
    return sum(client.memory_usage(k, samples=0) or 0 for k in keys), len(keys)


def bytes_per_message(client: redis.Redis) -> list[dict[str, Any]]:
    """memfix vs the article's store vs raw JSON, each message size, 100-message sessions."""
    rows: list[dict[str, Any]] = []
    for size, chars in SIZES.items():
        msgs = corpus(SESSION, chars)

        def memfix(session: str, msgs: list[Message] = msgs) -> None:
            RedisMemoryStore(client, ttl=3600, max_messages=500).append_messages(session, msgs)

        def article(session: str, msgs: list[Message] = msgs) -> None:
            store = ArticleRedisMemoryStore(client)
            for m in msgs:
                store.append_message(session, article_message(m))

        stores: dict[str, Callable[[str], None]] = {
            "memfix (ttl+window, ids)": memfix,
            "article (dataclass+json)": article,
        }
        for name, write in stores.items():
            session = f"mem-{size}-{len(rows)}"
            write(session)
            used, keys = _usage(client, session)
            rows.append(
                {
                    "size": size,
                    "store": name,
                    "bytes_per_msg": round(used / SESSION, 1),
                    "keys": keys,
                    "record_bytes": round(
                        sum(len(r) for r in client.lrange(f"session:{session}:messages", 0, -1))
                        / SESSION,
                        1,
                    ),
                }
            )
            drop(client, session_keys(client, session))
    return rows


def growth(client: redis.Redis, appends: int = 2000, window: int = 100) -> dict[str, Any]:
    """``appends`` single appends through a window: does anything grow past the window?"""
    store = RedisMemoryStore(client, ttl=3600, max_messages=window)
    for m in corpus(appends):
        store.append_message("growth", m)
    keys = session_keys(client, "growth")
    out = {
        "appends": appends,
        "window": window,
        "keys": [k.decode() for k in keys],
        "bytes": {k.decode(): client.memory_usage(k, samples=0) for k in keys},
    }
    drop(client, keys)
    return out


def long_lists(
    specs: list[ServerSpec], lengths: list[int], log: Callable[[str], None], calls: int = 200
) -> list[dict[str, Any]]:
    """Server µs per ``LRANGE -100 -1`` and wall µs per ``get_history(100)`` by list length."""
    record = schemas.encode_message(corpus(1)[0])
    rows: list[dict[str, Any]] = []
    for spec in specs:
        with spec.start() as srv:
            client, admin = srv.new_client(), srv.new_client()
            store = RedisMemoryStore(client)
            have = 0
            for length in sorted(lengths):
                log(f"  long lists: {spec.id}, {length:,} records")
                pipe = client.pipeline(transaction=False)
                while have < length:
                    step = min(10_000, length - have)
                    pipe.rpush("session:long:messages", *([record] * step))
                    have += step
                    if len(pipe) >= 10:
                        pipe.execute()
                pipe.execute()
                store.get_history("long", 100)  # warm
                before = commandstats(admin)
                walls = []
                for _ in range(5):
                    t0 = time.perf_counter_ns()
                    for _ in range(calls // 5):
                        store.get_history("long", 100)
                    walls.append((time.perf_counter_ns() - t0) / (calls // 5) / 1000)
                after = commandstats(admin)
                n, usec = (after["lrange"][i] - before.get("lrange", (0, 0))[i] for i in (0, 1))
                rows.append(
                    {
                        "server": spec.id,
                        "length": length,
                        "server_usec": round(usec / n, 1),
                        "get_history_usec": asdict(Stat.of(walls)),
                    }
                )
            client.close()
            admin.close()
    return rows


def record_sizes() -> dict[str, float]:
    """Average stored bytes of one 200-character message: 1.0 JSON vs current msgpack."""
    msgs = corpus(SESSION)
    article = [json.dumps(asdict(article_message(m))).encode() for m in msgs]
    current = [schemas.encode_message(m) for m in msgs]
    return {
        "1.0 JSON": sum(map(len, article)) / SESSION,
        schemas.CURRENT_VERSION: sum(map(len, current)) / SESSION,
    }
