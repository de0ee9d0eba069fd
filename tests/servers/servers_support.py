"""Test data shared by the servers tests (a plain module: conftest is not importable)."""

from __future__ import annotations

import redis

DATA = {b"str": b"value", b"list": [b"a", b"b", b"c"], b"hash": {b"f": b"1"}}


def write_data(client: redis.Redis) -> None:
    client.set(b"str", DATA[b"str"])
    client.rpush(b"list", *DATA[b"list"])
    client.hset(b"hash", mapping=DATA[b"hash"])


def assert_data(client: redis.Redis) -> None:
    assert client.get(b"str") == DATA[b"str"]
    assert client.lrange(b"list", 0, -1) == DATA[b"list"]
    assert client.hgetall(b"hash") == DATA[b"hash"]
