"""The portable JSON dump: every Redis type, binary-safe, deterministic, validated first."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfix.errors import GoldenError, TargetNotEmpty
from memfix.goldens import dump_keyspace, encode_dump, read_dump, restore_dump
from memfix.servers import Server, default_spec

BINARY = bytes(range(256))


def fill_every_type(server: Server) -> None:
    c = server.client
    c.set(b"str", "plain ✓")
    c.set(b"bin", BINARY)
    c.set(b"\xff\xfe-binary-key", b"v")
    c.rpush(b"list", b"c", b"a", b"b", BINARY)
    c.hset(b"hash", mapping={b"z": b"1", b"a": BINARY})
    c.sadd(b"set", b"q", b"b", b"a")
    c.zadd(b"zset", {b"low": -1.5, b"high": 1e300, b"tie-b": 2, b"tie-a": 2})
    c.zadd(b"zset-inf", {b"bottom": float("-inf"), b"top": float("inf")})
    c.xadd(b"stream", {b"f": b"v", b"g": BINARY}, id=b"1-1")
    c.xadd(b"stream", {b"f": b"w"}, id=b"2-0")
    c.set(b"expiring", b"x", ex=3600)
    c.xadd(b"empty-stream", {b"f": b"v"}, id=b"5-0")
    c.xtrim(b"empty-stream", maxlen=0)


def test_round_trip_of_every_type(server: Server, tmp_path: Path) -> None:
    fill_every_type(server)
    dump = dump_keyspace(server.client)
    path = tmp_path / "dump.json"
    path.write_bytes(encode_dump(dump))
    with default_spec().start() as target:
        stats = restore_dump(read_dump(path), target.client)
        assert stats.keys == 11
        again = dump_keyspace(target.client)
        assert again == dump
        assert target.client.get(b"bin") == BINARY
        assert target.client.lrange(b"list", 0, -1) == [b"c", b"a", b"b", BINARY]
        assert 3540 < target.client.ttl(b"expiring") <= 3600
        assert target.client.zrange(b"zset-inf", 0, -1, withscores=True) == [
            (b"bottom", float("-inf")),
            (b"top", float("inf")),
        ]
        assert target.client.type(b"empty-stream") == b"stream"
        assert target.client.xlen(b"empty-stream") == 0


def test_dump_is_canonical_and_readable(server: Server) -> None:
    fill_every_type(server)
    text = encode_dump(dump_keyspace(server.client)).decode()
    assert text.startswith('{\n  "format": "memfix-dump/1",')
    keys = [line.split('"key": ')[1].rstrip(",") for line in text.splitlines() if '"key": ' in line]
    assert keys == sorted(keys, key=lambda k: k.encode())  # canonical key order
    assert '"key": "str"' in text  # UTF-8 keys stay readable strings
    assert '"base64":' in text  # binary kept exact
    assert text.index('"a"') < text.index('"b"') < text.index('"q"')  # set members sorted
    assert (
        text.index('"low"') < text.index('"tie-a"') < text.index('"tie-b"') < text.index('"high"')
    )
    assert '"ttl": 3600' in text  # relative, rounded up to whole minutes
    # The same data written in another order dumps to the same bytes.
    with default_spec().start() as other:
        for key in reversed(server.client.keys()):
            payload = server.client.dump(key)
            assert isinstance(payload, bytes)
            other.client.restore(key, 0, payload)
        other.client.expire(b"expiring", 3600)
        assert encode_dump(dump_keyspace(other.client)).decode() == text


def test_restore_refuses_a_non_empty_database(server: Server) -> None:
    fill_every_type(server)
    dump = dump_keyspace(server.client)
    with pytest.raises(TargetNotEmpty, match="holds 11 keys"):
        restore_dump(dump, server.client)
    server.client.rpush(b"list", b"extra")
    server.client.set(b"unrelated", b"kept")
    with pytest.raises(TargetNotEmpty, match=r"already holds 11 key\(s\) of this golden: 'bin'"):
        restore_dump(dump, server.client, allow_non_empty=True)
    assert server.client.llen(b"list") == 5  # nothing written
    assert restore_dump(dump, server.client, allow_non_empty=True, replace_existing=True).keys == 11
    server.client.delete(b"unrelated")
    assert dump_keyspace(server.client) == dump


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "memfix-dump/1", "keys": [', "truncated"),
        ('{"format": "memfix-dump/9", "keys": []}', "dump format 'memfix-dump/9'"),
        (
            '{"format": "memfix-dump/1", "keys": [{"type": "blob", "key": "k", "value": 1}]}',
            "Invalid value 'blob'",
        ),
        (
            '{"format": "memfix-dump/1", "keys": '
            '[{"type": "string", "key": "k", "value": {"base64": "%%%"}}]}',
            "Invalid base64 encoded string",
        ),
        (
            '{"format": "memfix-dump/1", "keys": '
            '[{"type": "stream", "key": "s", "value": [["bad-id", ["f", "v"]]]}]}',
            "key 's': bad stream entry id 'bad-id'",
        ),
        (
            '{"format": "memfix-dump/1", "keys": '
            '[{"type": "stream", "key": "s", "value": [["1-1", ["f"]]]}]}',
            "stream entry 1-1 needs field/value pairs",
        ),
    ],
    ids=["truncated", "format", "type", "base64", "stream-id", "stream-fields"],
)
def test_bad_dumps_fail_before_any_write(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "dump.json"
    path.write_text(text)
    with pytest.raises(GoldenError) as info:
        read_dump(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
