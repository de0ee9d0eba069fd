"""Message wire schema 1.3 -- RELEASED, NEVER EDIT.

Tool use: role ``tool``; ``name`` (the tool a ``tool`` message speaks for);
``tool_calls`` on assistant messages (nested records: id, tool name,
arguments as a JSON object); ``tool_call_id`` (which call a ``tool`` message
answers). All optional and omitted when unset. Tagged ``"v":"1.3"``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from memfix.schemas import v1_2

VERSION = "1.3"


class ToolCall(msgspec.Struct, omit_defaults=True):
    id: str
    name: str
    arguments: dict[str, Any] = {}


class Record(msgspec.Struct, tag_field="v", tag="1.3", omit_defaults=True):
    id: str | None
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    ts_ms: int
    metadata: dict[str, Any] = {}
    name: str | None = None
    tool_calls: list[ToolCall] = []
    tool_call_id: str | None = None


_decoder = msgspec.json.Decoder(Record)
_encoder = msgspec.json.Encoder()


def decode(raw: bytes) -> Record:
    return _decoder.decode(raw)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def upcast(old: v1_2.Record) -> Record:
    return Record(
        id=old.id,
        role=old.role,
        content=old.content,
        ts_ms=old.ts_ms,
        metadata=old.metadata,
    )
