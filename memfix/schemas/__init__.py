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

from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any, Literal, get_args

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
            except (msgspec.MsgspecError, ValueError, RecursionError):
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
    except (msgspec.MsgspecError, ValueError) as exc:  # ValueError: e.g. invalid UTF-8
        raise SchemaError(str(exc), raw, version=version) from None
    except RecursionError:
        raise SchemaError("nested too deeply to decode", raw, version=version) from None
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

    Each record is decoded on its own, so a truncated or corrupt record can
    never borrow bytes from its neighbour: msgspec refuses a record that ends
    early or has bytes left over. The common case (every record written by the
    current version) takes a fast path that decodes each record straight into
    a tuple of its wire fields; the first record it cannot take sends the whole
    list down the record-by-record path, which names the culprit. A failure
    raises :class:`SchemaError` with ``index`` set to the record's position.
    """
    try:
        return _decode_current(raws)
    except Exception:  # any refusal: the general path below decides
        pass
    out: list[Message] = []
    for i, raw in enumerate(raws):
        try:
            out.append(decode_record(raw))
        except SchemaError as exc:
            raise exc.located(exc.key, i) from None
    return out


def _decode_current(raws: Sequence[bytes]) -> list[Message]:
    """Every record as the current version: raises on the first one that is not."""
    return _messages_of(map(_current_fields.decode, raws))


def encode_message(message: Message) -> bytes:
    """The bytes the current version stores for ``message``.

    Raises ``ValueError`` for a message the current version cannot store, before
    anything is written: an unknown role, nesting deeper than ``MAX_NESTING``, a
    value msgspec cannot encode, or anything the reader would refuse (a
    ``Message`` is not type-checked when built: content=123 encodes, but would
    not read back). The last check decodes the record as ``get_history`` will.
    """
    if type(message) is not Message and not isinstance(message, Message):
        raise TypeError(f"expected a memfix.Message, got {type(message).__name__}")
    role = message.role
    wire_role = _ROLE_VALUES.get(role) if isinstance(role, str) else None
    if wire_role is None:
        raise ValueError(f"role {message.role!r} is not one of {', '.join(_ROLES)}")
    metadata, calls, id = message.metadata, message.tool_calls, message.id
    content, name, tool_call_id = message.content, message.name, message.tool_call_id
    if metadata and _too_deep(metadata, MAX_NESTING):
        raise ValueError(
            f"metadata nests deeper than {MAX_NESTING} levels: it could not be read back"
        )
    if calls:
        for call in calls:
            if call.arguments and _too_deep(call.arguments, MAX_NESTING - 2):
                raise ValueError(
                    f"tool call {call.id!r}: arguments nest deeper than {MAX_NESTING - 2} "
                    "levels: they could not be read back"
                )
    try:
        # The current record's wire fields, the tag first: msgspec encodes this tuple
        # to exactly the bytes of v1_4.encode(_from_message(message)) (an array-like
        # struct is an array of all its fields), without building the struct.
        encoded: bytes = _fields_encoder.encode(
            (
                _CURRENT_TAG,
                id,
                wire_role,
                content,
                round(message.timestamp * 1000),
                metadata,
                name,
                [(c.id, c.name, c.arguments) for c in calls] if calls else calls,
                tool_call_id,
            )
        )
    except (msgspec.EncodeError, OverflowError, ValueError, TypeError) as exc:
        raise ValueError(f"message {id!r} cannot be stored: {exc}") from None
    # A Message is not type-checked when built: the common shapes are checked here,
    # anything else goes through the reader's own decoder before it is written.
    if not (
        type(content) is str
        and (id is None or type(id) is str)
        and (name is None or type(name) is str)
        and (tool_call_id is None or type(tool_call_id) is str)
        and type(metadata) is dict
        and (not metadata or _str_keys(metadata))
        and (not calls or _plain_calls(calls))
    ):
        try:
            _current_fields.decode(encoded)
        except (msgspec.MsgspecError, ValueError) as exc:
            raise ValueError(
                f"message {id!r} would not read back, so it is not stored: {exc}"
            ) from None
    return encoded


def _str_keys(mapping: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) for k in mapping)


def _plain_calls(calls: list[ToolCall]) -> bool:
    return all(
        isinstance(c.id, str)
        and isinstance(c.name, str)
        and type(c.arguments) is dict
        and _str_keys(c.arguments)
        for c in calls
    )


#: How deep metadata (and tool-call arguments) may nest, in containers. Decoders
#: recurse once per level and stop at the interpreter's recursion limit, which a
#: reader may hit earlier than the writer did; the store refuses to write what it
#: may not read back, with this margin.
MAX_NESTING = 100


def _too_deep(value: object, budget: int) -> bool:
    """Whether ``value`` holds containers nested more than ``budget`` levels deep."""
    if budget <= 0:
        return True
    if isinstance(value, dict):
        values: Iterable[object] = value.values()
    elif isinstance(value, (list, tuple)):
        values = value
    else:
        return False
    for item in values:
        if isinstance(item, (dict, list, tuple)) and _too_deep(item, budget - 1):
            return True
    return False


def json_schema(version: str = CURRENT_VERSION) -> dict[str, object]:
    """The JSON schema of a released version's wire record (goldens commit it)."""
    return msgspec.json.schema(RELEASED[version].Record)


# -- current version <-> Message: edited at each release ---------------------


#: 1.4 records start with a 9-element msgpack array header and the tag "1.4".
_CURRENT_PREFIX = b"\x99\xa31.4"
_CURRENT_TAG: str = _current.Record.__struct_config__.tag
_ROLE_NAMES = {role.value: role.name for role in v1_4.Role}  # wire value -> Role literal
#: The same as a tuple indexed by the wire value (the decoder admits only those values).
_ROLE_BY_VALUE = tuple(_ROLE_NAMES.get(v, "") for v in range(max(_ROLE_NAMES) + 1))
#: The current record's wire fields as a plain tuple, the tag first: decoding into
#: it accepts exactly what ``v1_4.decode`` accepts when all 9 fields are present
#: (the role as its integer, no enum lookup), and skips building a ``Record``.
_role_values: Any = Literal.__getitem__(tuple(_ROLE_NAMES))  # Literal[0, 1, 2, 3]
_tag_value: Any = Literal.__getitem__(_CURRENT_TAG)  # Literal["1.4"]
_current_fields = msgspec.msgpack.Decoder(
    tuple[
        _tag_value,
        str | None,
        _role_values,
        str,
        int,
        dict[str, Any],
        str | None,
        list[v1_4.ToolCall],
        str | None,
    ]
)


def _messages_of(records: Iterable[tuple[Any, ...]]) -> list[Message]:
    """The current ``Message`` of each current record's wire fields, in order.

    The one home of the wire -> model mapping, written as one comprehension
    (positional, in Message's field order, no call per record) because it runs
    once per message read: this loop is most of ``get_history``'s own cost.
    """
    roles = _ROLE_BY_VALUE
    return [
        Message(
            roles[role],  # names are Role literals
            content,
            ts_ms / 1000,  # integer ms on the wire, float seconds in the model
            metadata,
            id,
            name,
            # an empty list is the one msgspec just decoded: no second allocation
            [ToolCall(c.id, c.name, c.arguments) for c in tool_calls] if tool_calls else tool_calls,
            tool_call_id,
        )
        for _tag, id, role, content, ts_ms, metadata, name, tool_calls, tool_call_id in records
    ]


def _to_message(record: v1_4.Record) -> Message:
    return _messages_of([(None, *msgspec.structs.astuple(record))])[0]


_ROLE_VALUES = {name: value for value, name in _ROLE_NAMES.items()}  # Role literal -> wire
_fields_encoder = msgspec.msgpack.Encoder()


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
