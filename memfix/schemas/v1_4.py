"""Message wire schema 1.4 -- RELEASED, NEVER EDIT.

"Optimize Redis serialization": compact msgpack records instead of JSON.
A record is a msgpack array whose first element is the tag ``"1.4"``
(bytes ``0x9N 0xa3 '1.4'``), then the fields in the order below; the role is
a small integer. JSON records of earlier versions stay in the same lists and
keep loading: readers dispatch on the first bytes of each record.

Array layouts only ever append fields: never reorder, remove or retype one.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from memfix.schemas import v1_3

VERSION = "1.4"


class Role(enum.IntEnum):
    system = 0
    user = 1
    assistant = 2
    tool = 3


class ToolCall(msgspec.Struct, array_like=True):
    id: str
    name: str
    arguments: dict[str, Any] = {}


class Record(msgspec.Struct, array_like=True, tag="1.4"):
    id: str | None
    role: Role
    content: str
    ts_ms: int
    metadata: dict[str, Any] = {}
    name: str | None = None
    tool_calls: list[ToolCall] = []
    tool_call_id: str | None = None


_decoder = msgspec.msgpack.Decoder(Record)
_encoder = msgspec.msgpack.Encoder()


def decode(raw: bytes) -> Record:
    return _decoder.decode(raw)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def upcast(old: v1_3.Record) -> Record:
    return Record(
        id=old.id,
        role=Role[old.role],
        content=old.content,
        ts_ms=old.ts_ms,
        metadata=old.metadata,
        name=old.name,
        tool_calls=[ToolCall(c.id, c.name, c.arguments) for c in old.tool_calls],
        tool_call_id=old.tool_call_id,
    )
