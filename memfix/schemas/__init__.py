"""Every released message schema version, and the one way to read and write them.

Design (the rules a release must follow are in ``docs/releasing.md``):

- Each released wire version lives in its own module, ``v<major>_<minor>.py``,
  that is never edited after release. It defines ``VERSION``, a ``Record``
  struct, ``decode(bytes) -> Record`` and ``encode(Record) -> bytes``; every
  version after 1.0 also defines ``upcast(previous.Record) -> Record``.
- This registry (which *is* edited at each release) knows the order of the
  versions, how to tell a stored record's version from its first bytes, and
  how the newest ``Record`` maps to the current :class:`memfix.Message`.
- Reading dispatches on the record's version and upcasts step by step to the
  current version, so a 1.0 record keeps loading in every later release.
- Never pickle, never eval: records are JSON or msgpack decoded by msgspec
  into declared types.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import get_args

import msgspec

from memfix.errors import SchemaError
from memfix.model import Message, Role, ToolCall
from memfix.schemas import v1_0, v1_1, v1_2, v1_3, v1_4

__all__ = [
    "CURRENT_VERSION",
    "RELEASED",
    "decode_record",
    "decode_records",
    "detect_version",
    "encode_message",
    "json_schema",
]

#: Released wire versions, oldest first. Append only.
RELEASED: dict[str, ModuleType] = {
    "1.0": v1_0,
    "1.1": v1_1,
    "1.2": v1_2,
    "1.3": v1_3,
    "1.4": v1_4,
}

#: The version this code writes.
CURRENT_VERSION = "1.4"
_chain = list(RELEASED)
_current = RELEASED[CURRENT_VERSION]
#: For each version, the upcasts that take its records to the current version.
_upcasts = {
    version: [RELEASED[later].upcast for later in _chain[i + 1 :]]
    for i, version in enumerate(_chain)
}
_ROLES: tuple[str, ...] = get_args(Role)


def detect_version(raw: bytes) -> str | None:
    """The schema version a stored record claims, from its leading bytes.

    ``None`` when the bytes match no known layout. Cheap on purpose: it runs
    once per record on every ``get_history``.

    - a msgpack array whose first element is a short string (1.4 on): that
      string is the version, e.g. ``0x99 0xa3 "1.4"``;
    - ``{"v":"X.Y",...``: a tagged JSON record (1.1-1.3; msgspec writes the tag first);
    - any other JSON object: 1.0 (the seed article's untagged format), unless
      it carries a ``"v"`` member elsewhere (a foreign writer), which a small
      probe decode then reads.
    """
    first = raw[:1]
    if first and (0x90 <= first[0] <= 0x9F or first[0] == 0xDC):
        at = 1 if first[0] != 0xDC else 3
        if len(raw) > at and 0xA1 <= raw[at] <= 0xBF:
            return raw[at + 1 : at + 1 + (raw[at] & 0x1F)].decode("ascii", "replace")
        return None
    if raw.startswith(_JSON_TAG):
        end = raw.find(b'"', len(_JSON_TAG))
        return raw[len(_JSON_TAG) : end].decode("ascii", "replace") if end > 0 else None
    head = raw.lstrip()
    if head[:1] == b"{":
        if b'"v"' in head:
            try:
                return _probe.decode(head).v
            except (msgspec.DecodeError, msgspec.ValidationError):
                return None
        return "1.0"
    return None


_JSON_TAG = b'{"v":"'


class _Probe(msgspec.Struct):
    v: str = "1.0"


_probe = msgspec.json.Decoder(_Probe)


def decode_record(raw: bytes) -> Message:
    """Decode a stored record of any released version into the current ``Message``.

    Raises :class:`SchemaError` (without key context; the store adds it).
    """
    version = detect_version(raw)
    if version is None:
        raise SchemaError("no released schema version matches these bytes", raw)
    module = RELEASED.get(version)
    if module is None:
        raise SchemaError(
            f"schema version {version} is not one this code knows "
            f"(released: {', '.join(RELEASED)}); written by a newer memfix?",
            raw,
            version=version,
        )
    try:
        record = module.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SchemaError(str(exc), raw, version=version) from None
    try:
        for upcast in _upcasts[version]:
            record = upcast(record)
        return _to_message(record)
    except Exception as exc:  # a broken upcast must name the record, like a broken decoder
        raise SchemaError(
            f"decoded, but upcasting to {CURRENT_VERSION} failed: {exc!r}", raw, version=version
        ) from exc


def decode_records(raws: Sequence[bytes]) -> list[Message]:
    """Decode a list's records, any mix of versions, in order.

    The common case (every record written by the current version) is decoded
    in one msgspec call; anything else goes record by record. A failure
    raises :class:`SchemaError` with ``index`` set to the record's position.
    """
    if raws and all(raw.startswith(_CURRENT_PREFIX) for raw in raws):
        try:
            records = _current_many.decode(_msgpack_array(raws))
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass  # the record-by-record loop below names the culprit
        else:
            return [_to_message(r) for r in records]
    out: list[Message] = []
    for i, raw in enumerate(raws):
        try:
            out.append(decode_record(raw))
        except SchemaError as exc:
            raise exc.located(exc.key, i) from None
    return out


def _msgpack_array(items: Sequence[bytes]) -> bytes:
    """Concatenated msgpack values behind an array header: one decode call for all."""
    n = len(items)
    header = (
        bytes([0x90 | n])
        if n < 16
        else (b"\xdc" + n.to_bytes(2, "big") if n < 1 << 16 else b"\xdd" + n.to_bytes(4, "big"))
    )
    return header + b"".join(items)


def encode_message(message: Message) -> bytes:
    """The bytes the current version stores for ``message``.

    Raises ``ValueError`` for a message the current version cannot store
    (e.g. an unknown role), before anything is written.
    """
    if message.role not in _ROLES:
        raise ValueError(f"role {message.role!r} is not one of {', '.join(_ROLES)}")
    encoded: bytes = _current.encode(_from_message(message))
    return encoded


def json_schema(version: str = CURRENT_VERSION) -> dict[str, object]:
    """The JSON schema of a released version's wire record (goldens commit it)."""
    return msgspec.json.schema(RELEASED[version].Record)


# -- current version <-> Message: edited at each release ---------------------


#: 1.4 records start with a 9-element msgpack array header and the tag "1.4".
_CURRENT_PREFIX = b"\x99\xa31.4"
_current_many = msgspec.msgpack.Decoder(list[v1_4.Record])
_ROLE_NAMES = {role.value: role.name for role in v1_4.Role}  # wire value -> Role literal


def _to_message(record: v1_4.Record) -> Message:
    # Positional, in Message's field order: this runs once per message read.
    return Message(
        _ROLE_NAMES[record.role],  # type: ignore[arg-type]  # names are Role literals
        record.content,
        record.ts_ms / 1000,  # timestamp: integer ms on the wire, float seconds in the model
        record.metadata,
        record.id,
        record.name,
        [ToolCall(c.id, c.name, c.arguments) for c in record.tool_calls]
        if record.tool_calls
        else [],
        record.tool_call_id,
    )


def _from_message(message: Message) -> v1_4.Record:
    return v1_4.Record(
        id=message.id,
        role=v1_4.Role[message.role],
        content=message.content,
        ts_ms=round(message.timestamp * 1000),
        metadata=message.metadata,
        name=message.name,
        tool_calls=[
            v1_4.ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in message.tool_calls
        ],
        tool_call_id=message.tool_call_id,
    )
