"""memfix's own wire format as *other* writers produce it.

Every byte of memfix's goldens comes from memfix's own writer, so a reader
change that mishandles data written another way passes them. Real stores hold
the seed article's ``json.dumps(asdict(msg))`` records (spaces after ``:`` and
``,``, ``\\u`` escapes), other key orders, ``time.time()`` floats with
microseconds, integer timestamps, content with edge whitespace or over 64 KiB,
decomposed unicode, hash-tagged and non-ASCII session ids, tagged records whose
``"v"`` is not the first member, pretty-printed JSON, msgpack arrays that omit
trailing defaults. The writers here produce exactly those shapes, with no
memfix code on the write path (not even its key layout: they spell the key
as such a writer does).

:data:`FOREIGN_SHAPES` is a format whose scenario runs these writers and whose
keys and readers are memfix's own store's, so the golden set ``foreign``
recorded from it (``golden/foreign/``) keeps the shapes in memfix's goldens:
restored on every server and read through memfix's current readers by the
pytest plugin and ``memfix verify``. :func:`expected_view` says what each
session must read back as, derived from the writers' own data, so the set's
committed snapshot is checked against an expectation that does not come from
memfix's readers (``tests/test_foreign.py``).
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis

from memfix import schemas
from memfix.formats.memfix import MEMFIX_FORMAT
from memfix.version import Version

__all__ = [
    "FOREIGN_SHAPES",
    "SHAPES",
    "ForeignMessage",
    "ForeignShapes",
    "expected_view",
    "write_foreign_scenario",
]


@dataclass(frozen=True)
class ForeignMessage:
    """A message as a foreign writer holds it (its own types, not memfix's)."""

    role: str
    content: str
    timestamp: float | int  # epoch seconds, as the writer had it
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def expected(self) -> dict[str, Any]:
        """What memfix's current readers must make of it: the same role, content,
        metadata and id; the time in float seconds rounded to the millisecond
        (schema 1.2 stores integer milliseconds: a documented, lossless-to-ms step)."""
        out: dict[str, Any] = {
            "role": self.role,
            "content": self.content,
            "timestamp": round(self.timestamp * 1000) / 1000,
            "id": self.id,
        }
        if self.metadata:
            out["metadata"] = self.metadata
        return out


Writer = Callable[[redis.Redis, str, Sequence[ForeignMessage]], None]


def _push(client: redis.Redis, session_id: str, records: Sequence[bytes | str]) -> None:
    """RPUSH onto the key such a writer hard-codes (the seed article's, memfix's too)."""
    client.rpush(f"session:{session_id}:messages", *records)


def article_store(client: redis.Redis, session_id: str, msgs: Sequence[ForeignMessage]) -> None:
    """The seed article's store: ``json.dumps(asdict(msg))`` (spaces, ``\\u`` escapes)."""
    _push(
        client,
        session_id,
        [
            json.dumps({"role": m.role, "content": m.content, "timestamp": m.timestamp})
            for m in msgs
        ],
    )


def other_key_order(client: redis.Redis, session_id: str, msgs: Sequence[ForeignMessage]) -> None:
    """A writer that builds the object in another order, compact and UTF-8."""
    _push(
        client,
        session_id,
        [
            json.dumps(
                {"timestamp": m.timestamp, "content": m.content, "role": m.role},
                separators=(",", ":"),
                ensure_ascii=False,
            )
            for m in msgs
        ],
    )


def pretty_json(client: redis.Redis, session_id: str, msgs: Sequence[ForeignMessage]) -> None:
    """``json.dumps(..., indent=2)`` behind a newline: a debugging writer left on."""
    _push(
        client,
        session_id,
        [
            "\n"
            + json.dumps({"role": m.role, "content": m.content, "timestamp": m.timestamp}, indent=2)
            for m in msgs
        ],
    )


def late_version_tag(client: redis.Redis, session_id: str, msgs: Sequence[ForeignMessage]) -> None:
    """Schema 1.1 records built as ``{**fields, "v": "1.1"}``: the tag comes last."""
    records = []
    for m in msgs:
        obj: dict[str, Any] = {"role": m.role, "content": m.content, "timestamp": m.timestamp}
        if m.metadata:
            obj["metadata"] = m.metadata
        obj["v"] = "1.1"
        records.append(json.dumps(obj))
    _push(client, session_id, records)


def spaced_tag(client: redis.Redis, session_id: str, msgs: Sequence[ForeignMessage]) -> None:
    """Schema 1.2 records from ``json.dumps`` defaults: ``{"v": "1.2", ...}`` with spaces."""
    records = []
    for m in msgs:
        obj: dict[str, Any] = {
            "v": "1.2",
            "id": m.id,
            "role": m.role,
            "content": m.content,
            "ts_ms": round(m.timestamp * 1000),
        }
        if m.metadata:
            obj["metadata"] = m.metadata
        records.append(json.dumps(obj))
    _push(client, session_id, records)


_ROLE_CODES = {"system": 0, "user": 1, "assistant": 2, "tool": 3}


def short_msgpack(client: redis.Redis, session_id: str, msgs: Sequence[ForeignMessage]) -> None:
    """Schema 1.4 arrays from a writer that omits trailing default fields."""
    records = []
    for m in msgs:
        row: list[Any] = ["1.4", m.id, _ROLE_CODES[m.role], m.content, round(m.timestamp * 1000)]
        if m.metadata:
            row.append(m.metadata)
        records.append(msgspec.msgpack.encode(row))
    _push(client, session_id, records)


@dataclass(frozen=True)
class Shape:
    """One foreign shape: a session written by one writer."""

    session: str
    writer: Writer
    messages: tuple[ForeignMessage, ...]


def _shapes() -> tuple[Shape, ...]:
    rng = random.Random("memfix-foreign-shapes")
    now = 1_700_000_000.0

    def ts() -> float:
        nonlocal now
        now += rng.uniform(0.5, 90.0)
        return round(now, 6)  # time.time(): microseconds

    def msgs(*contents: str, roles: Sequence[str] = ("user", "assistant")) -> tuple[Any, ...]:
        return tuple(ForeignMessage(roles[i % len(roles)], c, ts()) for i, c in enumerate(contents))

    big = "".join(rng.choice("abcdefghij klmnop\né🤖") for _ in range(66_000))  # > 64 KiB
    return (
        Shape(
            "article-json-dumps",
            article_store,
            msgs("Hello, I'm planning a trip.", 'Où ça? 東京 🗼 — "quotes" and \\ backslash'),
        ),
        Shape(
            "int-timestamps",
            article_store,
            tuple(
                ForeignMessage(
                    "user" if i % 2 == 0 else "assistant", f"turn {i}", 1_700_000_100 + i
                )
                for i in range(3)
            ),
        ),
        Shape("other-key-order", other_key_order, msgs("Ünïcödé as UTF-8, no escapes", "ok")),
        Shape(
            "edge-whitespace",
            article_store,
            msgs("  leading spaces", "trailing newline\n", "\t tabs both sides \t", " ", "\r\n"),
        ),
        Shape("over-64k", other_key_order, msgs("summarise this:", big)),
        Shape(
            "decomposed-unicode",
            article_store,
            msgs(
                unicodedata.normalize("NFD", "café naïve São Paulo"),
                unicodedata.normalize("NFD", "한국어 텍스트"),
            ),
        ),
        Shape("{user:42}:chat", article_store, msgs("a hash-tagged session id with a colon")),
        Shape("ユーザー-β", other_key_order, msgs("a non-ASCII session id")),
        Shape(
            "late-version-tag",
            late_version_tag,
            (
                ForeignMessage("user", "weather?", ts()),
                ForeignMessage("assistant", "rain", ts(), metadata={"model": "m-1", "tokens": 7}),
            ),
        ),
        Shape(
            "spaced-tag",
            spaced_tag,
            (
                ForeignMessage("user", "with an id", ts(), id="a1b2c3d4e5f60718"),
                ForeignMessage("assistant", "and metadata", ts(), metadata={"k": [1, 2.5]}),
            ),
        ),
        Shape("pretty-json", pretty_json, msgs("indented JSON", "behind a newline")),
        Shape(
            "msgpack-trailing-defaults",
            short_msgpack,
            (
                ForeignMessage("system", "be brief", ts(), id="0000000000000001"),
                ForeignMessage("tool", "{}", ts(), id="0000000000000002", metadata={"x": None}),
            ),
        ),
    )


#: Every foreign shape, in writing order (deterministic: a fixed seed and clock).
SHAPES: tuple[Shape, ...] = _shapes()


def write_foreign_scenario(client: redis.Redis, version: str = "1.0") -> None:
    """Write every shape into ``client``'s database (``Format.write_scenario``'s shape;
    the shapes do not change with ``version``)."""
    for shape in SHAPES:
        shape.writer(client, shape.session, shape.messages)


def expected_view() -> dict[str, list[dict[str, Any]]]:
    """What memfix's readers must make of :func:`write_foreign_scenario`, session by
    session, derived from the writers' own data (not from memfix's readers)."""
    return {s.session: [m.expected() for m in s.messages] for s in SHAPES}


class ForeignShapes:
    """The foreign shapes as a golden-set format (set ``foreign`` in pyproject:
    ``format = "memfix.formats.foreign:FOREIGN_SHAPES"``).

    Written by the foreign writers above, read by memfix's own format
    (:data:`memfix.formats.memfix.MEMFIX_FORMAT`: its key patterns, its
    ``read_sessions``, its record-version detection), so what the set's goldens
    test is memfix's current readers on data memfix did not write.

    The write-side check runs too, and means: the committed golden is still,
    byte for byte, what these writers write, so :func:`expected_view` (their
    data) is still its meaning; and memfix's current readers read what the
    writers just wrote as they read the golden. A change of memfix's *writer*
    cannot fail it (no memfix write code runs here): memfix's writer is checked
    on these shapes by ``tests/test_foreign.py`` and on its own scenario by set
    ``memfix``.
    """

    name = "memfix-foreign"
    scenario_name = "foreign-shapes/1"
    current_version = "1.0"  # the shapes' version: bump it (and record) to add shapes
    byte_stable = True  # fixed writers, fixed data: the raw records are compared
    writer = "the foreign writers' scenario"  # not memfix's writer, as reports say
    reads_cluster = True  # the reader is memfix's own store, which runs on a cluster client

    @property
    def key_patterns(self) -> tuple[str, ...]:
        return MEMFIX_FORMAT.key_patterns

    def write_scenario(self, client: redis.Redis, version: Version) -> None:
        """Every foreign shape (the seed article's json.dumps, other key orders, float
        and integer timestamps, edge whitespace, over 64 KiB, NFD, hash-tagged and
        non-ASCII ids, late and spaced tags, pretty JSON, short msgpack arrays),
        each session by its own writer; no memfix write code."""
        if str(version) != self.current_version:
            raise ValueError(f"the foreign shapes have version {self.current_version} only")
        write_foreign_scenario(client, str(version))

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        return MEMFIX_FORMAT.read_sessions(client)

    def record_version(self, raw: bytes) -> str | None:
        """The schema version memfix detects (the manifest counts records by it)."""
        return schemas.detect_version(raw)


FOREIGN_SHAPES = ForeignShapes()
