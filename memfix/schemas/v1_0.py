"""Message wire schema 1.0 -- RELEASED, NEVER EDIT.

The seed article's format: a Redis list per session, one JSON object per
message, ``{"role": ..., "content": ..., "timestamp": <epoch seconds>}``, no
version marker. Data written by ``json.dumps`` (with its spaces) and by
msgspec (without) both decode here.

This file is frozen: goldens record its sha256 and a test fails if it changes.
A new release adds a new module with an ``upcast`` from this one.
"""

from __future__ import annotations

from typing import Literal

import msgspec

VERSION = "1.0"


class Record(msgspec.Struct):
    role: Literal["system", "user", "assistant"]
    content: str
    timestamp: float


_decoder = msgspec.json.Decoder(Record)
_encoder = msgspec.json.Encoder()


def decode(raw: bytes) -> Record:
    return _decoder.decode(raw)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)
