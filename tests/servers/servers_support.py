"""Test data shared by the servers tests (conftest itself is not for importing)."""

from __future__ import annotations

import redis

DATA = {b"str": b"value", b"list": [b"a", b"b", b"c"], b"hash": {b"f": b"1"}}


def write_data(client: redis.Redis) -> None:
    client.set(b"str", b"value")
    client.rpush(b"list", b"a", b"b", b"c")
    client.hset(b"hash", mapping={b"f": b"1"})


def assert_data(client: redis.Redis) -> None:
    assert client.get(b"str") == DATA[b"str"]
    assert client.lrange(b"list", 0, -1) == DATA[b"list"]
    assert client.hgetall(b"hash") == DATA[b"hash"]
