"""Message wire schema 1.5 -- RELEASED, NEVER EDIT.

Retries deduplicated in the list itself: the record is 1.4's, field for
field, under the tag "1.5"; what changed is the keyspace. Up to 1.4 every
session kept a companion set of appended message ids
(``{session:<id>:messages}:ids``), which never shrank with the window
(72-86 bytes per message, unbounded without a TTL) and was written before
the list, so a failed append could poison a retry. From 1.5 the append
script looks for a retried record among the session's newest records
(``LPOS``), and writes no id set. Older sessions keep their id sets until
they expire or are deleted; nothing reads them.

Created by ``memfix schema new 1.5`` from 1.4.
"""

from __future__ import annotations

import msgspec

from memfix.schemas import v1_4
from memfix.schemas.v1_4 import Role, ToolCall

__all__ = ["VERSION", "Record", "Role", "ToolCall", "decode", "encode", "upcast"]

VERSION = "1.5"


class Record(v1_4.Record, tag="1.5"):
    """1.4's fields, in 1.4's order; new ones go below, with defaults."""


_decoder = msgspec.msgpack.Decoder(Record)
_encoder = msgspec.msgpack.Encoder()


def decode(raw: bytes) -> Record:
    return _decoder.decode(raw)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def upcast(old: v1_4.Record) -> Record:
    return Record(
        id=old.id,
        role=old.role,
        content=old.content,
        ts_ms=old.ts_ms,
        metadata=old.metadata,
        name=old.name,
        tool_calls=old.tool_calls,
        tool_call_id=old.tool_call_id,
    )
