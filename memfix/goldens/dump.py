"""A portable, deterministic, reviewable logical dump of a Redis keyspace.

Why not only the RDB file: an RDB file loads only on servers at least as new
as the one that wrote it, and no reviewer can read it. ``dump.json`` replays
on any server and diffs line by line:

- keys sorted by their bytes; members of sets sorted; sorted-set members by
  (score, member); list elements one per line, in list order;
- values that are valid UTF-8 are JSON strings, anything else is
  ``{"base64": "..."}``, so binary records (msgpack) survive exactly;
- TTLs are relative seconds, rounded *up* to a whole minute, never wall-clock
  expiry times, so recording the same scenario twice gives identical bytes.

Streams are dumped as their entries (ids and fields); consumer groups are not.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import redis

from memfix.errors import GoldenError, TargetNotEmpty
from memfix.goldens.jsonfile import MAX_JSON_BYTES, encode_canonical, read_versioned

__all__ = [
    "DUMP_FORMAT",
    "MIN_GOLDEN_TTL",
    "Base64",
    "Entry",
    "HashEntry",
    "KeyspaceDump",
    "ListEntry",
    "RestoreStats",
    "SetEntry",
    "StreamEntry",
    "StreamItem",
    "StringEntry",
    "ZSetEntry",
    "dump_keys",
    "dump_keyspace",
    "encode_dump",
    "key_text",
    "read_dump",
    "restore_dump",
    "short_key",
    "short_ttl",
    "value_bytes",
]

DUMP_FORMAT = "memfix-dump/1"
_CHUNK = 1000  # elements per command and commands per pipeline flush


class Base64(msgspec.Struct, forbid_unknown_fields=True):
    """Bytes that are not UTF-8, kept exact: ``{"base64": "..."}`` in the file.

    msgspec encodes and decodes ``bytes`` as base64 itself (in C), which is
    most of the cost of replaying a dump full of msgpack records.
    """

    base64: bytes


Value = str | Base64


def _enc(raw: bytes) -> Value:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return Base64(raw)


def short_key(value: Value, limit: int = 80) -> str:
    """``repr`` of a dumped key, cut to ``limit`` characters (a 1 MB key stays one line)."""
    text = key_text(value)
    shown = repr(text if len(text) <= limit else text[:limit])
    return shown if len(text) <= limit else f"{shown}... ({len(text)} chars)"


def key_text(value: Value) -> str:
    """A dumped key as one printable string (``base64:...`` when it is not UTF-8)."""
    if isinstance(value, str):
        return value
    return "base64:" + base64.b64encode(value.base64).decode("ascii")


def value_bytes(value: Value) -> bytes:
    """The exact bytes a dumped value stands for."""
    return value.encode("utf-8") if isinstance(value, str) else value.base64


def _values(values: list[Value]) -> list[bytes]:
    return [v.encode("utf-8") if type(v) is str else v.base64 for v in values]  # type: ignore[union-attr]


class _Entry(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    key: Value
    ttl: int | None = None


class StringEntry(_Entry, tag="string", kw_only=True):
    value: Value


class ListEntry(_Entry, tag="list", kw_only=True):
    value: list[Value]


class HashEntry(_Entry, tag="hash", kw_only=True):
    value: list[tuple[Value, Value]]


class SetEntry(_Entry, tag="set", kw_only=True):
    value: list[Value]


class ZSetEntry(_Entry, tag="zset", kw_only=True):
    # Scores as text (Python's repr of the float): JSON has no inf or -inf.
    value: list[tuple[Value, str]]


class StreamItem(msgspec.Struct, array_like=True):
    id: str
    fields: list[Value]


class StreamEntry(_Entry, tag="stream", kw_only=True):
    value: list[StreamItem]


Entry = StringEntry | ListEntry | HashEntry | SetEntry | ZSetEntry | StreamEntry


class KeyspaceDump(msgspec.Struct, forbid_unknown_fields=True):
    """Every key of one Redis database, in a canonical order."""

    format: str
    keys: list[Entry]

    def without_ttl_values(self) -> KeyspaceDump:
        """The same dump with TTLs reduced to present/absent.

        An RDB file stores absolute expiry times, a JSON dump relative ones;
        after a restore only the presence of a TTL is comparable.
        """
        return KeyspaceDump(
            self.format,
            [msgspec.structs.replace(e, ttl=None if e.ttl is None else 1) for e in self.keys],
        )


# -- dumping ---------------------------------------------------------------


def dump_keyspace(client: redis.Redis) -> KeyspaceDump:
    """Read the whole selected database of ``client`` into a :class:`KeyspaceDump`."""
    return dump_keys(client, client.scan_iter(count=_CHUNK))


def dump_keys(client: redis.Redis, keys: Iterable[bytes]) -> KeyspaceDump:
    """Read the given keys (read commands only: TYPE, PTTL, GET, LRANGE, ...)."""
    keys = sorted(set(keys))
    entries: list[Entry] = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.type(key)
            pipe.pttl(key)
        meta = pipe.execute()
        pipe = client.pipeline(transaction=False)
        kinds: list[str] = []
        for i, key in enumerate(chunk):
            kind = meta[2 * i].decode() if isinstance(meta[2 * i], bytes) else str(meta[2 * i])
            kinds.append(kind)
            _queue_read(pipe, kind, key)
        values = pipe.execute()
        for i, key in enumerate(chunk):
            if kinds[i] == "none":  # expired or deleted between SCAN and TYPE
                continue
            pttl = int(meta[2 * i + 1])
            ttl = None if pttl < 0 else -(-pttl // 60_000) * 60
            entries.append(_entry(kinds[i], key, ttl, values[i]))
    return KeyspaceDump(DUMP_FORMAT, entries)


def _queue_read(pipe: redis.client.Pipeline, kind: str, key: bytes) -> None:
    if kind == "string":
        pipe.get(key)
    elif kind == "list":
        pipe.lrange(key, 0, -1)
    elif kind == "hash":
        pipe.hgetall(key)
    elif kind == "set":
        pipe.smembers(key)
    elif kind == "zset":
        pipe.zrange(key, 0, -1, withscores=True)
    elif kind == "stream":
        pipe.xrange(key)
    elif kind == "none":
        pipe.echo(b"")
    else:
        raise GoldenError(
            f"key {key!r}: cannot dump Redis type {kind!r} (module types are not supported)"
        )


def _entry(kind: str, key: bytes, ttl: int | None, raw: object) -> Entry:
    k = _enc(key)
    if kind == "string":
        assert isinstance(raw, bytes)
        return StringEntry(key=k, ttl=ttl, value=_enc(raw))
    if kind == "list":
        assert isinstance(raw, list)
        return ListEntry(key=k, ttl=ttl, value=[_enc(v) for v in raw])
    if kind == "hash":
        assert isinstance(raw, dict)
        return HashEntry(key=k, ttl=ttl, value=[(_enc(f), _enc(raw[f])) for f in sorted(raw)])
    if kind == "set":
        assert isinstance(raw, set)
        return SetEntry(key=k, ttl=ttl, value=[_enc(v) for v in sorted(raw)])
    if kind == "zset":
        assert isinstance(raw, list)
        pairs = sorted((float(score), member) for member, score in raw)
        return ZSetEntry(key=k, ttl=ttl, value=[(_enc(m), repr(s)) for s, m in pairs])
    assert isinstance(raw, list)
    items = [
        StreamItem(id=sid.decode(), fields=[_enc(x) for kv in fields.items() for x in kv])
        for sid, fields in raw
    ]
    return StreamEntry(key=k, ttl=ttl, value=items)


# -- files ---------------------------------------------------------------------


def encode_dump(dump: KeyspaceDump) -> bytes:
    """Canonical bytes of a dump: 2-space indented JSON, one element per line."""
    return encode_canonical(dump)


def read_dump(path: Path) -> KeyspaceDump:
    """Parse and validate a ``dump.json`` completely (before anything is written)."""
    dump = read_versioned(path, KeyspaceDump, "dump", DUMP_FORMAT, MAX_JSON_BYTES)
    seen: set[bytes] = set()
    for entry in dump.keys:  # bad shapes surface now, not halfway through a restore
        key = value_bytes(entry.key)
        if key in seen:
            raise GoldenError(f"{path}: key {short_key(entry.key)} appears twice")
        seen.add(key)
        try:
            _check_shape(entry)
        except ValueError as exc:
            raise GoldenError(f"{path}: key {short_key(entry.key)}: {exc}") from None
    return dump


_STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}", re.ASCII)


#: The shortest TTL a golden may hold (100 years): ``dump.rdb`` stores each key's
#: *absolute* expiry, so a golden holding a key with a shorter TTL restores without
#: it once that time passes, and its rdb case fails from then on. ``dump.json``
#: holds the TTL relative to recording; scenarios use
#: :data:`memfix.formats.SCENARIO_TTL` (200 years).
MIN_GOLDEN_TTL = 100 * 365 * 86_400


def short_ttl(dump: KeyspaceDump) -> str | None:
    """What is wrong when a key of ``dump`` expires within :data:`MIN_GOLDEN_TTL`, else None:
    ``key 'k' has a TTL of 3600 s (+2 more keys under 100 years)``."""
    short = [e for e in dump.keys if e.ttl is not None and e.ttl < MIN_GOLDEN_TTL]
    if not short:
        return None
    more = f" (+{len(short) - 1} more keys under 100 years)" if len(short) > 1 else ""
    return (
        f"key {short_key(short[0].key)} has a TTL of {short[0].ttl} s{more}: dump.rdb stores "
        "absolute expiry, so the golden loses the key once it passes; a golden's TTLs must "
        "be at least 100 years (memfix.formats.SCENARIO_TTL)"
    )


#: EXPIRE takes any 64-bit number of seconds, but an expiry past ~292 million years
#: overflows the server's millisecond clock; no real TTL comes near this bound.
MAX_TTL = 10**12


def _check_shape(entry: Entry) -> None:
    """What Redis would reject mid-restore: bad TTLs, stream ids, field lists, scores,
    and empty collections (Redis deletes an empty list, set, hash or sorted set)."""
    if entry.ttl is not None and not 0 < entry.ttl <= MAX_TTL:
        raise ValueError(f"TTL {entry.ttl} is not between 1 and {MAX_TTL} seconds")
    if isinstance(entry, (ListEntry, SetEntry, HashEntry, ZSetEntry)) and not entry.value:
        raise ValueError(f"an empty {entry.__struct_config__.tag} cannot exist in Redis")
    if isinstance(entry, SetEntry) and len({value_bytes(v) for v in entry.value}) != len(
        entry.value
    ):
        raise ValueError("a set member appears twice")
    if isinstance(entry, HashEntry) and len({value_bytes(f) for f, _ in entry.value}) != len(
        entry.value
    ):
        raise ValueError("a hash field appears twice")
    if isinstance(entry, StreamEntry):
        previous = (0, 0)
        for item in entry.value:
            if not _STREAM_ID.fullmatch(item.id) or item.id == "0-0":
                raise ValueError(f"bad stream entry id {item.id[:40]!r}")
            ms, seq = (int(x) for x in item.id.split("-"))
            if (ms, seq) <= previous or ms >= 1 << 64 or seq >= 1 << 64:
                raise ValueError(f"stream entry id {item.id} is out of order or range")
            previous = (ms, seq)
            if not item.fields or len(item.fields) % 2:
                raise ValueError(f"stream entry {item.id} needs field/value pairs")
    elif isinstance(entry, ZSetEntry):
        for _, score in entry.value:
            try:
                number = float(score)
            except ValueError:
                raise ValueError(f"bad sorted-set score {score[:40]!r}") from None
            if math.isnan(number):
                raise ValueError(f"bad sorted-set score {score[:40]!r}")


# -- restoring -------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreStats:
    keys: int
    elements: int


def restore_dump(
    dump: KeyspaceDump,
    client: redis.Redis,
    *,
    allow_non_empty: bool = False,
    replace_existing: bool = False,
) -> RestoreStats:
    """Write ``dump`` into the selected database of ``client``.

    Refuses a database that already holds keys unless ``allow_non_empty``,
    and refuses keys of the same name as a dump key (listing them) unless
    ``replace_existing`` too (then each such key is replaced, never merged):
    overwriting live data is a separate decision from writing next to it.
    ``read_dump`` validated every value and shape Redis could reject, and all
    checks run before the first write, so a restore does not stop halfway on
    bad data; a server-side failure is still a one-line GoldenError naming keys.
    """
    existing = int(client.dbsize())
    if existing and not allow_non_empty:
        raise TargetNotEmpty(
            f"target database holds {existing} keys; restore only into an empty database"
        )
    if existing:
        colliding = _colliding(dump, client)
        if colliding and not replace_existing:
            shown = ", ".join(short_key(k, 60) for k in colliding[:5])
            more = f" (+{len(colliding) - 5} more)" if len(colliding) > 5 else ""
            raise TargetNotEmpty(
                f"target database already holds {len(colliding)} key(s) of this golden: "
                f"{shown}{more}; nothing written"
            )
    pipe = client.pipeline(transaction=False)
    queued = elements = 0
    batch: list[Value] = []  # keys with commands in the pipeline, to name one on failure
    for entry in dump.keys:
        key = value_bytes(entry.key)
        batch.append(entry.key)
        elements += 1 if isinstance(entry, StringEntry) else len(entry.value)
        if existing:  # make the key equal to the dump, never a merge of both
            pipe.delete(key)
        for command in _commands(entry, key):
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
            queued += 1
            if queued >= _CHUNK:
                _flush(pipe, batch)
                queued = 0
        if entry.ttl is not None:
            pipe.expire(key, entry.ttl)
            queued += 1
    _flush(pipe, batch)
    return RestoreStats(keys=len(dump.keys), elements=elements)


def _colliding(dump: KeyspaceDump, client: redis.Redis) -> list[Value]:
    found: list[Value] = []
    for start in range(0, len(dump.keys), _CHUNK):
        chunk = dump.keys[start : start + _CHUNK]
        pipe = client.pipeline(transaction=False)
        for entry in chunk:
            pipe.exists(value_bytes(entry.key))
        found += [e.key for e, hit in zip(chunk, pipe.execute(), strict=True) if hit]
    return found


def _flush(pipe: redis.client.Pipeline, batch: list[Value]) -> None:
    try:
        pipe.execute()
    except redis.RedisError as exc:
        first, last = short_key(batch[0], 60), short_key(batch[-1], 60)
        where = f"{first}..{last}" if len(batch) > 1 else first
        raise GoldenError(f"restore failed in keys {where}: {exc}") from None
    batch.clear()


def _commands(entry: Entry, key: bytes) -> Iterator[tuple[object, ...]]:
    if isinstance(entry, StringEntry):
        yield ("SET", key, value_bytes(entry.value))
    elif isinstance(entry, (ListEntry, SetEntry)):
        verb = "RPUSH" if isinstance(entry, ListEntry) else "SADD"
        values = _values(entry.value)
        for i in range(0, len(values), _CHUNK):
            yield (verb, key, *values[i : i + _CHUNK])
    elif isinstance(entry, HashEntry):
        flat = [value_bytes(x) for pair in entry.value for x in pair]
        for i in range(0, len(flat), 2 * _CHUNK):
            yield ("HSET", key, *flat[i : i + 2 * _CHUNK])
    elif isinstance(entry, ZSetEntry):
        flat2: list[object] = []
        for member, score in entry.value:
            flat2 += [score, value_bytes(member)]
        for i in range(0, len(flat2), 2 * _CHUNK):
            yield ("ZADD", key, *flat2[i : i + 2 * _CHUNK])
    else:
        if not entry.value:  # an empty stream: create it, then trim its one entry away
            yield ("XADD", key, "MAXLEN", "0", "0-1", "_", "_")
        for item in entry.value:
            yield ("XADD", key, item.id, *[value_bytes(x) for x in item.fields])
