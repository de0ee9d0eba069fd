"""Message wire schema 1.6 -- RELEASED, NEVER EDIT.

A record is ``memfix.Message``'s own fields, in the model's order, as a msgpack
array: ``[role, content, timestamp, metadata, id, name, tool_calls,
tool_call_id]``. The role is its name, the timestamp the float of epoch seconds
the model holds (exactly: a message reads back equal to the one written; 1.4 and
1.5 rounded it to milliseconds), and a tool call is a map of its fields (as
``memfix.ToolCall`` encodes, empty ``arguments`` left out). Why: msgspec decodes
such a record straight into the model's constructor arguments, so
``get_history`` builds each message in one C call instead of mapping every
field in Python (benchmarked in ``docs/benchmarks.md``).

The record carries no tag: its first element is a role name (never a version
string), and its length, 8, tells it from every later layout, which may only
append fields (``memfix.schemas.detect_version``). Records of 1.0-1.5 stay in
the same lists and keep loading. The roles are 1.5's; a tool call holds 1.5's
fields, as a map where 1.5 wrote an array. A new layout, so written by hand
(``memfix schema new`` subclasses the previous layout).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from memfix.schemas import v1_5

__all__ = ["VERSION", "Record", "Role", "ToolCall", "decode", "encode", "upcast"]

VERSION = "1.6"

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(msgspec.Struct, omit_defaults=True):
    id: str
    name: str
    arguments: dict[str, Any] = {}


class Record(msgspec.Struct, array_like=True):
    role: Role
    content: str
    timestamp: float
    metadata: dict[str, Any] = {}
    id: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] = []
    tool_call_id: str | None = None


_decoder = msgspec.msgpack.Decoder(Record)
_encoder = msgspec.msgpack.Encoder()


def decode(raw: bytes) -> Record:
    return _decoder.decode(raw)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def upcast(old: v1_5.Record) -> Record:
    return Record(
        role=old.role.name,  # type: ignore[arg-type]  # 1.4's Role names are these literals
        content=old.content,
        timestamp=old.ts_ms / 1000,
        metadata=old.metadata,
        id=old.id,
        name=old.name,
        tool_calls=[ToolCall(c.id, c.name, c.arguments) for c in old.tool_calls],
        tool_call_id=old.tool_call_id,
    )
