"""Message wire schema 1.2 -- RELEASED, NEVER EDIT.

Adds a stable per-message ``id`` (appends are idempotent by id) and stores
the time as integer milliseconds (``ts_ms``) instead of float seconds, so
every client language reads it exactly. Tagged ``"v":"1.2"``.

1.1 records upcast with ``id=None`` (they never had one) and their float
seconds rounded to the millisecond.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from memfix.schemas import v1_1

VERSION = "1.2"


class Record(msgspec.Struct, tag_field="v", tag="1.2", omit_defaults=True):
    id: str | None
    role: Literal["system", "user", "assistant"]
    content: str
    ts_ms: int
    metadata: dict[str, Any] = {}


_decoder = msgspec.json.Decoder(Record)
_encoder = msgspec.json.Encoder()


def decode(raw: bytes) -> Record:
    return _decoder.decode(raw)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def upcast(old: v1_1.Record) -> Record:
    return Record(
        id=None,
        role=old.role,
        content=old.content,
        ts_ms=round(old.timestamp * 1000),
        metadata=old.metadata,
    )
