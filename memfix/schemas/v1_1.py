"""Message wire schema 1.1 -- RELEASED, NEVER EDIT.

Adds an optional ``metadata`` mapping and an explicit version marker: records
are JSON objects whose first member is ``"v":"1.1"`` (msgspec writes the tag
first), so a reader can dispatch on the first bytes. ``metadata`` is omitted
when empty. 1.0 records (no marker) upcast with empty metadata.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from memfix.schemas import v1_0

VERSION = "1.1"


class Record(msgspec.Struct, tag_field="v", tag="1.1", omit_defaults=True):
    role: Literal["system", "user", "assistant"]
    content: str
    timestamp: float
    metadata: dict[str, Any] = {}


_decoder = msgspec.json.Decoder(Record)
_encoder = msgspec.json.Encoder()


def decode(raw: bytes) -> Record:
    return _decoder.decode(raw)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def upcast(old: v1_0.Record) -> Record:
    return Record(role=old.role, content=old.content, timestamp=old.timestamp)
