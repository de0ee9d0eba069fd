"""Every released message schema version, and the one way to read and write them.

Design (the rules a release must follow are in ``docs/releasing.md``):

- Each released wire version lives in its own module, ``v<major>_<minor>.py``,
  that is never edited after release. It defines ``VERSION``, a ``Record``
  struct, ``decode(bytes) -> Record`` and ``encode(Record) -> bytes``; every
  version after 1.0 also defines ``upcast(previous.Record) -> Record``.
  ``memfix schema new X.Y`` writes the next one (:mod:`memfix.release`).
- This registry is *not* edited at a release: it discovers the modules, and
  derives from the newest one everything that depends on the current version
  (``CURRENT_VERSION``, the one-call fast path's header bytes, the role table,
  the newest ``Record`` <-> :class:`memfix.Message` mapping). It also knows how
  to tell a stored record's version from its first bytes.
- Reading dispatches on the record's version and upcasts step by step to the
  current version, so a 1.0 record keeps loading in every later release.
- Never pickle, never eval: records are JSON or msgpack decoded by msgspec
  into declared types.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any, Literal, get_args

import msgspec

from memfix.errors import SchemaError
from memfix.model import Message, Role, ToolCall

__all__ = [
    "CURRENT_VERSION",
    "MAX_NESTING",
    "RELEASED",
    "decode_as",
    "decode_record",
    "decode_records",
    "detect_version",
    "encode_message",
    "json_schema",
    "message_encoder",
]

#: ``MAJOR.MINOR``, ASCII digits, no leading zeros.
_MODULE = re.compile(r"v(0|[1-9][0-9]*)_(0|[1-9][0-9]*)")


def _discover() -> dict[str, ModuleType]:
    """Every ``v<major>_<minor>.py`` module of this package, oldest first.

    Discovery, not a hand-kept list: releasing a version is adding its module
    (``memfix schema new X.Y``); nothing else in this registry is edited.
    """
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _MODULE.fullmatch(info.name)
        if match:
            found.append(((int(match[1]), int(match[2])), info.name))
    modules: dict[str, ModuleType] = {}
    for (major, minor), name in sorted(found):
        module = importlib.import_module(f"{__name__}.{name}")
        expected = f"{major}.{minor}"
        if module.VERSION != expected:  # noqa: SIM300
            raise ImportError(f"{module.__file__}: VERSION is {module.VERSION!r}, not {expected}")
        modules[module.VERSION] = module
    return modules


#: Released wire versions, oldest first (discovered from the modules).
RELEASED: dict[str, ModuleType] = _discover()

#: The version this code writes: the newest module.
CURRENT_VERSION = next(reversed(RELEASED))
_chain = list(RELEASED)
#: The newest module. Its ``Record`` maps to ``Message`` below; the nested
#: ``Role`` (an int enum) and ``ToolCall`` types are looked up on it, so a
#: version made by ``memfix schema new`` (which re-exports them) needs no edit here.
_latest: Any = RELEASED[CURRENT_VERSION]
#: For each version, the upcasts that take its records to the current version.
_upcasts = {
    version: [RELEASED[later].upcast for later in _chain[i + 1 :]]
    for i, version in enumerate(_chain)
}
_ROLES: tuple[str, ...] = get_args(Role)


def detect_version(raw: bytes) -> str | None:
    """The schema version a stored record claims, from its leading bytes.

    ``None`` when the bytes match no known layout. Cheap on purpose: it runs
    once per record of every list that is not all of the current version (the
    goldens, sessions written before an upgrade).

    - a msgpack array whose first element is a short string (1.4 on): that
      string is the version, e.g. ``0x99 0xa3 "1.4"``;
    - ``{"v":"X.Y",...``: a tagged JSON record (1.1-1.3; msgspec writes the tag first);
    - any other JSON object: 1.0 (the seed article's untagged format), unless
      it carries a ``"v"`` member elsewhere (a foreign writer), which a small
      probe decode then reads.
    """
    known = _KNOWN_HEADS.get(raw[:_HEAD])
    if known is not None:
        return known
    return _detect_version(raw)


def _detect_version(raw: bytes) -> str | None:
    """:func:`detect_version` for any bytes (the lookup of known heads aside)."""
    first = raw[:1]
    if first and (0x90 <= first[0] <= 0x9F or first[0] == 0xDC):
        at = 1 if first[0] != 0xDC else 3
        if len(raw) > at and 0xA1 <= raw[at] <= 0xBF:
            return raw[at + 1 : at + 1 + (raw[at] & 0x1F)].decode("ascii", "replace")
        return None
    if raw.startswith(_JSON_TAG):
        end = raw.find(b'"', len(_JSON_TAG))
        return raw[len(_JSON_TAG) : end].decode("ascii", "replace") if end > 0 else None
    head = raw if first == b"{" else raw.lstrip()
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
    record = _current_record(raw)
    try:
        return _to_message(record)
    except Exception as exc:  # a broken mapping names the record, like a broken upcast
        raise _upcast_failed(exc, raw, detect_version(raw)) from exc


def _current_record(raw: bytes) -> Any:
    """A stored record of any released version, decoded and upcast to the current Record."""
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
    except Exception as exc:  # a broken upcast must name the record, like a broken decoder
        raise _upcast_failed(exc, raw, version) from exc
    return record


def _upcast_failed(exc: Exception, raw: bytes, version: str | None) -> SchemaError:
    return SchemaError(
        f"decoded, but upcasting to {CURRENT_VERSION} failed: {exc!r}", raw, version=version
    )


def _to_messages(records: list[Any], raws: Sequence[bytes]) -> list[Message]:
    """The Messages of current Records decoded from ``raws``, in one pass; a record
    that does not map raises SchemaError with its index."""
    try:
        return _fast_messages(records) if _FAST else [_to_message(r) for r in records]
    except Exception as failure:  # name the culprit, record by record
        for i, raw in enumerate(raws):
            try:
                decode_record(raw)
            except SchemaError as exc:
                raise exc.located(exc.key, i) from None
        raise failure  # not any one record's fault (e.g. MemoryError): as it was raised


def decode_records(raws: Sequence[bytes]) -> list[Message]:
    """Decode a list's records, any mix of versions, in order.

    Each record is decoded on its own, so a truncated or corrupt record can
    never borrow bytes from its neighbour: msgspec refuses a record that ends
    early or has bytes left over. The common case (every record written by the
    current version) takes a fast path that decodes each record straight into
    a tuple of its wire fields; the first record it cannot take sends the whole
    list down the record-by-record path (decode, upcast), which names the
    culprit; the Messages of that path are then built in one pass. A failure
    raises :class:`SchemaError` with ``index`` set to the record's position.
    """
    if _FAST:
        try:
            return _messages_of(map(_current_fields.decode, raws))
        except Exception:  # any refusal: the general path below decides
            pass
    records: list[Any] = []
    for i, raw in enumerate(raws):
        try:
            records.append(_current_record(raw))
        except SchemaError as exc:
            _to_messages(records, raws[:i])  # an earlier record that does not map comes first
            raise exc.located(exc.key, i) from None
    return _to_messages(records, raws)


def _msgpack_array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    return b"\xdc" + n.to_bytes(2, "big") if n < 1 << 16 else b"\xdd" + n.to_bytes(4, "big")


def encode_message(message: Message) -> bytes:
    """The bytes the current version stores for ``message``.

    Raises ``ValueError`` for a message the current version cannot store, before
    anything is written: an unknown role, nesting deeper than ``MAX_NESTING``, a
    value msgspec cannot encode, or anything the reader would refuse (a
    ``Message`` is not type-checked when built: content=123 encodes, but would
    not read back). The last check decodes the record as ``get_history`` will.
    """
    if _INLINE and type(message) is Message:  # the common case, checked inline (hot path)
        role, content, timestamp, metadata, id, name, calls, tool_call_id = _fields_of(message)
        wire_role = _ROLE_VALUES.get(role) if type(role) is str else None
        if (
            wire_role is None
            or (type(calls) is list and calls)
            or (metadata and _too_deep(metadata, MAX_NESTING))
        ):
            wire_role = _check_storable(message)  # the rarer shapes; raises naming the problem
    else:  # a subclass (it may hold more fields), or no Message at all (refused here)
        wire_role = _check_storable(message)
        content, metadata, id = message.content, message.metadata, message.id
        name, calls, tool_call_id = message.name, message.tool_calls, message.tool_call_id
        try:  # a subclass may compute it, and fail like any other unstorable value
            timestamp = message.timestamp
        except _UNSTORABLE as exc:
            raise ValueError(f"message {id!r} cannot be stored: {exc}") from None
    try:
        if _FAST:
            # The current record's wire fields, the tag first: msgspec encodes this
            # tuple to exactly the bytes of encode(_from_message(message)) (an
            # array-like struct is an array of all its fields), without the struct.
            encoded: bytes = _fields_encoder.encode(
                (
                    _CURRENT_TAG,
                    id,
                    wire_role,
                    content,
                    round(timestamp * 1000),
                    metadata,
                    name,
                    [(c.id, c.name, c.arguments) for c in calls]
                    if type(calls) is list and calls
                    else calls,
                    tool_call_id,
                )
            )
        else:
            encoded = _latest.encode(_from_message(message))
    except _UNSTORABLE as exc:
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
        and type(calls) is list
        and (not calls or _plain_calls(calls))
    ):
        try:
            _read_back(encoded)
        except (msgspec.MsgspecError, ValueError) as exc:
            raise ValueError(
                f"message {id!r} would not read back, so it is not stored: {exc}"
            ) from None
    return encoded


#: A Message's fields in declaration order, in one C call.
_fields_of = msgspec.structs.astuple


#: What encoding a message that is not what its annotations say can raise.
_UNSTORABLE = (msgspec.EncodeError, OverflowError, ValueError, TypeError, KeyError, AttributeError)


def _check_storable(message: Message) -> int:
    """The checks every write path runs before encoding (any version): a Message, a
    known role, nesting a reader can decode. Returns the role's current wire value."""
    if not isinstance(message, Message):
        raise TypeError(f"expected a memfix.Message, got {type(message).__name__}")
    role = message.role
    wire_role: int | None = _ROLE_VALUES.get(role) if isinstance(role, str) else None
    if wire_role is None:
        raise ValueError(f"role {message.role!r} is not one of {', '.join(_ROLES)}")
    if message.metadata and _too_deep(message.metadata, MAX_NESTING):
        raise ValueError(
            f"metadata nests deeper than {MAX_NESTING} levels: it could not be read back"
        )
    calls = message.tool_calls
    if type(calls) is list:
        for call in calls:
            arguments = getattr(call, "arguments", None)
            if arguments and _too_deep(arguments, MAX_NESTING - 2):
                raise ValueError(
                    f"tool call {getattr(call, 'id', '?')!r}: arguments nest deeper than "
                    f"{MAX_NESTING - 2} levels: they could not be read back"
                )
    return wire_role


def _str_keys(mapping: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) for k in mapping)


def _plain_calls(calls: list[ToolCall]) -> bool:
    return all(
        isinstance(c, ToolCall)
        and isinstance(c.id, str)
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


# -- current version <-> Message ---------------------------------------------
#
# Derived from the newest module, never edited at a release. The hand-written
# mapping covers the fields whose wire form differs from the model (role as an
# int enum, integer milliseconds, nested tool calls); any other field that the
# newest Record and Message share by name (a release's new optional field) is
# copied as is, so adding one needs no edit here.

_MAPPED = frozenset(
    {
        *("role", "content", "timestamp", "ts_ms", "metadata"),
        *("id", "name", "tool_calls", "tool_call_id"),
    }
)
#: Fields the newest Record and Message share beyond the mapped ones.
_SHARED: tuple[str, ...] = tuple(
    f
    for f in Message.__struct_fields__
    if f in _latest.Record.__struct_fields__ and f not in _MAPPED
)


def unmapped_fields(record: type[msgspec.Struct] | None = None) -> list[str]:
    """Message fields the current Record cannot store (a release forgot one).

    A non-empty answer means messages would lose that field on write; the test
    suite asserts it is empty.
    """
    fields = (record or _latest.Record).__struct_fields__
    return [
        f
        for f in Message.__struct_fields__
        if f not in fields and not (f == "timestamp" and "ts_ms" in fields)
    ]


def _record_prefix(record: type[msgspec.Struct]) -> bytes | None:
    """The leading bytes every msgpack encoding of ``record`` shares, or ``None``.

    An ``array_like`` struct with a string tag encodes as an array of
    (1 + its field count) elements whose first is the tag; ``omit_defaults``
    would make the length vary, so no fixed prefix then.
    """
    info = msgspec.inspect.type_info(record)
    if not (
        isinstance(info, msgspec.inspect.StructType)
        and info.array_like
        and isinstance(info.tag, str)
        and not record.__struct_config__.omit_defaults
    ):
        return None
    return _msgpack_array_header(len(info.fields) + 1) + msgspec.msgpack.encode(info.tag)


#: Every current record starts with these bytes (for 1.4: ``0x99 0xa3 "1.4"``);
#: ``None`` when the newest layout has no fixed prefix.
_CURRENT_PREFIX = _record_prefix(_latest.Record)
_CURRENT_TAG: str = _latest.Record.__struct_config__.tag
#: How many leading bytes ``detect_version`` looks up first.
_HEAD = 5
#: The first ``_HEAD`` bytes of every record of a released msgpack layout with a
#: fixed prefix (1.4 on), and the version ``_detect_version`` reads from them:
#: one dict lookup on the hot path instead of parsing the header each time. Only
#: heads the parser itself maps are listed, so both always agree.
_KNOWN_HEADS: dict[bytes, str] = {
    head[:_HEAD]: version
    for version, module in RELEASED.items()
    if (head := _record_prefix(module.Record)) is not None
    and len(head) >= _HEAD
    and _detect_version(head[:_HEAD]) == version
}
_ROLE_NAMES = {role.value: role.name for role in _latest.Role}  # wire value -> Role literal
_ROLE_VALUES = {name: value for value, name in _ROLE_NAMES.items()}  # Role literal -> wire
#: The same as a tuple indexed by the wire value (the decoder admits only those values).
_ROLE_BY_VALUE = tuple(_ROLE_NAMES.get(v, "") for v in range(max(_ROLE_NAMES) + 1))

# -- the fast paths: the 1.4 wire layout as plain tuples ------------------------
#
# get_history and append spend most of their own time building structs. For the
# layout below (1.4's), records are decoded into, and encoded from, a plain tuple
# of the wire fields, which msgspec reads and writes byte for byte as the Record.
# A release that changes the layout (even by appending a field) runs on the
# generic Record path until this is extended; tests/test_decoding.py checks both
# paths agree on any bytes.
_FAST_LAYOUT = ("id", "role", "content", "ts_ms", "metadata", "name", "tool_calls", "tool_call_id")
_FAST = tuple(_latest.Record.__struct_fields__) == _FAST_LAYOUT and _CURRENT_PREFIX is not None
#: encode_message unpacks a Message's fields in this order; a model that gains one
#: (a release adding a field) takes the field-by-field path until this is extended.
_INLINE = _FAST and Message.__struct_fields__ == (
    *("role", "content", "timestamp", "metadata"),
    *("id", "name", "tool_calls", "tool_call_id"),
)
_fields_encoder = msgspec.msgpack.Encoder()
_current_fields: Any = None
if _FAST:
    #: Decoding into this tuple accepts exactly what the Record's decoder accepts
    #: (the role as its integer, no enum lookup), and skips building a Record.
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
            list[_latest.ToolCall],
            str | None,
        ]
    )
#: Decodes a current record the way get_history will (write-time read-back check).
_read_back: Callable[[bytes], object] = _current_fields.decode if _FAST else _latest.decode


def _messages_of(records: Iterable[tuple[Any, ...]]) -> list[Message]:
    """The current ``Message`` of each fast-layout record's wire fields, in order.

    Written as one comprehension (positional, in Message's field order, no call
    per record) because it runs once per message read: this loop is most of
    ``get_history``'s own cost.
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


def _fast_messages(records: list[Any]) -> list[Message]:
    """The Messages of current Records, through the fast layout's one mapping."""
    astuple = msgspec.structs.astuple
    return _messages_of([(None, *astuple(r)) for r in records])


def _to_message(record: Any) -> Message:
    """The current Message of a current Record (a decoded or upcast older record)."""
    if _FAST:  # one home for the mapping of this layout: the loop get_history runs
        return _messages_of([(None, *msgspec.structs.astuple(record))])[0]
    message = Message(
        _ROLE_NAMES[record.role],
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
    if _SHARED:
        message = msgspec.structs.replace(message, **{f: getattr(record, f) for f in _SHARED})
    return message


_Record, _RoleEnum, _ToolCallRecord = _latest.Record, _latest.Role, _latest.ToolCall


def _from_message(message: Message) -> Any:
    record = _Record(
        id=message.id,
        role=_RoleEnum[message.role],
        content=message.content,
        ts_ms=round(message.timestamp * 1000),
        metadata=message.metadata,
        name=message.name,
        tool_calls=[
            _ToolCallRecord(id=c.id, name=c.name, arguments=c.arguments) for c in message.tool_calls
        ],
        tool_call_id=message.tool_call_id,
    )
    if _SHARED:
        record = msgspec.structs.replace(record, **{f: getattr(message, f) for f in _SHARED})
    return record


# -- older versions: what a previous release reads, and pinned writes ---------------


def decode_as(raw: bytes, reader: str) -> msgspec.Struct:
    """Decode ``raw`` as release ``reader``'s code did: only the versions up to
    ``reader`` exist, upcast to ``reader``'s Record (the rollback question).

    Raises :class:`SchemaError` when that release could not read the record.
    """
    known = _chain[: _chain.index(reader) + 1]
    version = detect_version(raw)
    if version is None or version not in known:
        raise SchemaError(
            f"release {reader} reads versions {known[0]}..{reader} only",
            raw,
            version=version,
        )
    try:
        record = RELEASED[version].decode(raw)
    except (msgspec.MsgspecError, ValueError) as exc:  # ValueError: e.g. invalid UTF-8
        raise SchemaError(str(exc), raw, version=version) from None
    except RecursionError:
        raise SchemaError("nested too deeply to decode", raw, version=version) from None
    try:
        for later in known[known.index(version) + 1 :]:
            record = RELEASED[later].upcast(record)
    except Exception as exc:  # a broken upcast must name the record, like a broken decoder
        raise SchemaError(
            f"decoded, but upcasting to {reader} failed: {exc!r}", raw, version=version
        ) from exc
    return record  # type: ignore[no-any-return]


def message_encoder(
    version: str | None = None, *, lossless: bool = True
) -> Callable[[Message], bytes]:
    """The function that stores a Message as ``version`` (default: the current one).

    An older version is written by downcasting the current Record step by step
    (:mod:`memfix.schemas.downcast`); a message it cannot represent losslessly
    raises ``ValueError`` naming the field, before anything is written. With
    ``lossless=False`` such fields are dropped instead, as that release's own
    writer would never have had them (how memfix.testing models old releases).
    """
    if version is None or version == CURRENT_VERSION:
        return encode_message
    if version not in RELEASED:
        raise ValueError(
            f"write_version {version!r} is not a released schema version "
            f"(released: {', '.join(RELEASED)})"
        )
    from memfix.schemas.downcast import downcaster, lost_fields

    down = downcaster(CURRENT_VERSION, version)
    module = RELEASED[version]
    back = _chain[_chain.index(version) + 1 :]

    def encode(message: Message) -> bytes:
        _check_storable(message)
        try:
            current = _from_message(message)
            encoded: bytes = module.encode(down(current))
            module.decode(encoded)  # what release ``version`` will read: it must read it
        except _UNSTORABLE as exc:
            raise ValueError(
                f"message {message.id!r} cannot be stored as {version}: {exc}"
            ) from None
        if not lossless:
            return encoded
        # Read it back as the new code will and compare: what the old version
        # cannot hold (a field, a role, a nested value) must not be dropped silently.
        try:
            record = module.decode(encoded)
            for later in back:
                record = RELEASED[later].upcast(record)
            lost = lost_fields(current, record)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            lost = [str(exc)]
        if lost:
            raise ValueError(
                f"message {message.id}: schema {version} cannot represent it losslessly "
                f"({', '.join(lost)}); write it with {CURRENT_VERSION} or drop the field"
            )
        return encoded

    return encode
