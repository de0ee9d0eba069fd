"""Every released message schema version, and the one way to read and write them.

Design (the rules a release must follow are in ``docs/releasing.md``):

- Each released wire version lives in its own module, ``v<major>_<minor>.py``,
  that is never edited after release. It defines ``VERSION``, a ``Record``
  struct, ``decode(bytes) -> Record`` and ``encode(Record) -> bytes``; every
  version after 1.0 also defines ``upcast(previous.Record) -> Record``.
  ``memfix schema new X.Y`` writes the next one (:mod:`memfix.release`).
- This registry is *not* edited at a release: it discovers the modules, and
  derives from the newest one everything that depends on the current version
  (``CURRENT_VERSION``, whether the one-call fast path applies, the newest
  ``Record`` <-> :class:`memfix.Message` mapping). It also knows how to tell a
  stored record's version from its first bytes (a tag, or from 1.6 on the
  array's length).
- Reading dispatches on the record's version and upcasts step by step to the
  current version, so a 1.0 record keeps loading in every later release.
- Never pickle, never eval: records are JSON or msgpack decoded by msgspec
  into declared types.
"""

from __future__ import annotations

import importlib
import math
import numbers
import pkgutil
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import starmap as _starmap
from types import ModuleType
from typing import Any, Literal, get_args, get_type_hints

import msgspec

from memfix.errors import SchemaError
from memfix.model import Message, Role, ToolCall
from memfix.schemas import v1_0, v1_4

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
#: The newest module. Its ``Record`` maps to ``Message`` below; its nested
#: ``ToolCall`` type is looked up on it, so a version made by ``memfix schema
#: new`` (which re-exports it) needs no edit here.
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

    - a msgpack array whose first element is a short string: a version tag
      (1.4, 1.5: ``0x99 0xa3 "1.4"``) is the version; any other string (1.6 on:
      the role, ``0x98 0xa4 "user"``) is an untagged layout, told by the array's
      length;
    - ``{"v":"X.Y",...``: a tagged JSON record (1.1-1.3; msgspec writes the tag first);
    - any other JSON object: 1.0 (the seed article's untagged format), unless
      it carries a ``"v"`` member elsewhere (a foreign writer), which a small
      probe decode then reads.
    """
    known = _KNOWN_HEADS.get(raw[:_HEAD])
    if known is not None:
        return known
    return _detect_version(raw)


#: What a version tag looks like (anything else first in an array is a field).
_VERSION_TAG = re.compile(r"[0-9]+\.[0-9]+")


def _array_head(raw: bytes) -> tuple[int, str] | None:
    """A msgpack array's length and first element, when that is a short string."""
    if not raw:
        return None
    if 0x90 <= raw[0] <= 0x9F:
        length, at = raw[0] & 0x0F, 1
    elif raw[0] == 0xDC and len(raw) >= 3:
        length, at = int.from_bytes(raw[1:3], "big"), 3
    elif raw[0] == 0xDD and len(raw) >= 5:
        length, at = int.from_bytes(raw[1:5], "big"), 5
    else:
        return None
    if len(raw) <= at:
        return None
    kind = raw[at]  # any string header msgspec reads (another writer may use str8)
    if 0xA1 <= kind <= 0xBF:
        size, at = kind & 0x1F, at + 1
    elif kind in _STR_SIZES and len(raw) >= at + 1 + _STR_SIZES[kind]:
        width = _STR_SIZES[kind]
        size, at = int.from_bytes(raw[at + 1 : at + 1 + width], "big"), at + 1 + width
    else:
        return None
    return length, raw[at : at + size].decode("ascii", "replace")


#: msgpack's str8/16/32 headers and the width of their length.
_STR_SIZES = {0xD9: 1, 0xDA: 2, 0xDB: 4}


def _detect_version(raw: bytes) -> str | None:
    """:func:`detect_version` for any bytes (the lookup of known heads aside)."""
    first = raw[:1]
    if first and (0x90 <= first[0] <= 0x9F or first[0] in (0xDC, 0xDD)):
        array = _array_head(raw)
        if array is None:
            return None
        return array[1] if _VERSION_TAG.fullmatch(array[1]) else _UNTAGGED.get(array)
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
    read = _SHORTCUTS.get(raw[:_SHORTCUT_HEAD])
    if read is not None:
        try:
            return read(raw)
        except Exception:  # any refusal: the chain names the problem
            pass
    return _read_any(raw)


def _read_any(raw: bytes) -> Message:
    """A record of any released version: decoded with its own module, upcast, mapped."""
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


def decode_records(raws: Sequence[bytes], into: list[Message] | None = None) -> list[Message]:
    """Decode a list's records, any mix of versions, in order (appended to
    ``into`` when given, which is returned; a failure appends nothing).

    Each record is decoded on its own, so a truncated or corrupt record can
    never borrow bytes from its neighbour: msgspec refuses a record that ends
    early or has bytes left over. The common case (every record written by the
    current version) takes a fast path that decodes each record straight into
    Message's constructor arguments; the first record it cannot take sends the
    rest of the list record by record (:func:`decode_record`: the current, the
    1.4/1.5 and the 1.0 layouts in one step each, any other version decoded and
    upcast), where the first record that fails raises :class:`SchemaError` with
    ``index`` set to its position. A list of 1.4/1.5 records (any session written
    before 1.6) or of 1.0 records (the seed article's) takes a fast path of its own.
    """
    out: list[Message] = [] if into is None else into
    mark = len(out)
    start = 0
    whole = _WHOLE_LIST.get(raws[0][:_SHORTCUT_HEAD]) if raws else None
    if whole is not None:
        try:  # appends as it goes: stops at the first record its layout cannot take
            out.extend(whole(raws))
            return out
        except Exception:
            start = len(out) - mark  # the records before it are read
    try:
        for i in range(start, len(raws)):
            try:
                out.append(decode_record(raws[i]))
            except SchemaError as exc:
                raise exc.located(exc.key, i) from None
    except BaseException:  # whatever failed, nothing of this list stays appended
        del out[mark:]
        raise
    return out


def _msgpack_array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    return b"\xdc" + n.to_bytes(2, "big") if n < 1 << 16 else b"\xdd" + n.to_bytes(4, "big")


def encode_message(message: Message) -> bytes:
    """The bytes the current version stores for ``message``.

    Raises ``ValueError`` for a message the current version cannot store, before
    anything is written: an unknown role, a timestamp that is not a finite
    number, nesting deeper than ``MAX_NESTING``, a value msgspec cannot encode,
    or anything the reader would refuse (a ``Message`` is not type-checked when
    built: content=123 encodes, but would not read back). The last check decodes
    the record as ``get_history`` will.
    """
    if _INLINE and type(message) is Message:  # the common case, checked inline (hot path)
        # A Message is not type-checked when built. One of plain fields (no metadata,
        # no tool calls) is checked here and written as its field tuple, which is the
        # current record (_FAST); any other takes the checks of _encode_checked.
        fields = _fields_of(message)
        role, content, timestamp, metadata, id, name, calls, tool_call_id = fields
        # Exact types: a subclass may hash, compare or encode otherwise (an Enum member
        # that passes for "user" and that msgspec writes as "USER"); it is read back.
        if (
            type(role) is str
            and role in _ROLE_SET
            and type(content) is str
            and type(timestamp) is float
            and timestamp - timestamp == 0.0  # finite
            and type(metadata) is dict
            and not metadata
            and (id is None or type(id) is str)
            and (name is None or type(name) is str)
            and type(calls) is list
            and not calls
            and (tool_call_id is None or type(tool_call_id) is str)
        ):
            try:
                return _fields_encoder.encode(fields)
            except _UNSTORABLE as exc:  # a lone surrogate in the content
                raise _unstorable(message, exc) from None
    return _encode_checked(message)


def _encode_checked(message: Message) -> bytes:
    """``encode_message`` of any message: checked field by field, then read back
    as ``get_history`` will before it is written (values of any type, at any depth,
    in metadata and tool-call arguments; a subclass, which may hold more fields)."""
    _check_storable(message)  # raises naming the problem
    try:
        if _FAST:
            # Message's fields are the current Record's, in its order: msgspec encodes
            # this tuple to exactly the bytes of encode(_from_message(message)).
            encoded: bytes = _fields_encoder.encode(_record_fields(message))
        else:
            encoded = _latest.encode(_from_message(message))
    except (*_UNSTORABLE, RecursionError) as exc:
        raise _unstorable(message, exc) from None
    try:
        back = _read_back(encoded)
    except (msgspec.MsgspecError, ValueError, RecursionError) as exc:
        raise ValueError(
            f"message {getattr(message, 'id', None)!r} would not read back, "
            f"so it is not stored: {exc}"
        ) from None
    _check_depth(*_decoded_parts(back))
    return encoded


def _unstorable(message: Message, exc: BaseException) -> ValueError:
    return ValueError(f"message {getattr(message, 'id', None)!r} cannot be stored: {exc}")


def _decoded_parts(back: Any) -> tuple[object, object]:
    """The metadata and tool calls of a record the read-back check decoded."""
    if _FAST:  # a tuple of Message's fields
        return (
            back[_META] if _META is not None else None,
            back[_CALLS] if _CALLS is not None else None,
        )
    return getattr(back, "metadata", None), getattr(back, "tool_calls", None)


#: A Message's fields in declaration order, in one C call.
_fields_of = msgspec.structs.astuple


def _record_fields(message: Message) -> tuple[Any, ...]:
    """The current Record's fields, read from ``message`` by name (a subclass's
    extra fields left out), its tool calls copied as plain ``ToolCall``\\ s."""
    values = [getattr(message, f) for f in _SHARED]
    if _CALLS is not None and isinstance(values[_CALLS], (list, tuple)):
        values[_CALLS] = [ToolCall(c.id, c.name, c.arguments) for c in values[_CALLS]]
    if _TIME is not None:  # checked a real number: stored as the model's float
        values[_TIME] = float(values[_TIME])
    return tuple(values)


#: What encoding a message that is not what its annotations say can raise.
_UNSTORABLE = (msgspec.EncodeError, OverflowError, ValueError, TypeError, KeyError, AttributeError)


def _check_storable(message: Message) -> None:
    """The checks every write path runs before encoding (any version): a Message, a
    known role, a finite timestamp, nesting a reader can decode."""
    if not isinstance(message, Message):
        raise TypeError(f"expected a memfix.Message, got {type(message).__name__}")
    role = message.role
    if not (isinstance(role, str) and role in _ROLE_SET):
        raise ValueError(f"role {message.role!r} is not one of {', '.join(_ROLES)}")
    try:  # a subclass may compute it, and fail like any other unstorable value
        timestamp = message.timestamp
    except _UNSTORABLE as exc:
        raise _unstorable(message, exc) from None
    try:  # any real number (numpy's too), stored as a float
        finite = (
            isinstance(timestamp, numbers.Real)
            and not isinstance(timestamp, bool)
            and math.isfinite(float(timestamp))
        )
    except (OverflowError, TypeError, ValueError):  # an int past float's range
        finite = False
    if not finite:
        raise ValueError(
            f"message {message.id!r} cannot be stored: timestamp {timestamp!r} "
            "is not a finite number of seconds"
        )
    _check_depth(message.metadata, message.tool_calls)


def _check_depth(metadata: object, calls: object) -> None:
    """Refuse metadata or tool-call arguments nested deeper than a reader can decode.

    Run on the message (its containers) and again on what the record decodes to
    (dicts and lists only): nesting hidden in other containers shows there.
    """
    if metadata and _too_deep(metadata, MAX_NESTING):
        raise ValueError(
            f"metadata nests deeper than {MAX_NESTING} levels: it could not be read back"
        )
    if isinstance(calls, (list, tuple)):
        for call in calls:
            arguments = getattr(call, "arguments", None)
            if arguments and _too_deep(arguments, MAX_NESTING - 2):
                raise ValueError(
                    f"tool call {getattr(call, 'id', '?')!r}: arguments nest deeper than "
                    f"{MAX_NESTING - 2} levels: they could not be read back"
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
# Derived from the newest module, never edited at a release. From 1.6 the newest
# Record is Message's own fields, in the model's order and types, so the mapping
# copies fields by name (tool calls rebuilt as the model's ToolCall); a field only
# one side declares is left out (the other side's default applies). A release that
# changes a field's type or unit converts old records in its ``upcast``; one whose
# Record stops matching the model runs on the generic path below until this is
# extended (``_FAST`` is then off; tests/test_decoding.py holds both to one answer).


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


def _record_heads(record: type[msgspec.Struct]) -> tuple[bytes, ...]:
    """Leading bytes, one of which starts every msgpack encoding of ``record``.

    An ``array_like`` struct encodes as an array of all its fields (under
    ``omit_defaults`` the length varies: no heads). Tagged, the tag comes first
    (1.5: ``0x99 0xa3 "1.5"``); untagged, the first field does, and when that is
    a Literal of strings each value makes a head (1.6: ``0x98 0xa4 "user"``, ...).
    Empty when no fixed head exists.
    """
    info = msgspec.inspect.type_info(record)
    if not (
        isinstance(info, msgspec.inspect.StructType)
        and info.array_like
        and info.fields
        and not record.__struct_config__.omit_defaults
    ):
        return ()
    if info.tag is not None:
        if not isinstance(info.tag, str):
            return ()
        return (_msgpack_array_header(len(info.fields) + 1) + msgspec.msgpack.encode(info.tag),)
    first = info.fields[0].type
    if not (
        isinstance(first, msgspec.inspect.LiteralType)
        and all(isinstance(v, str) for v in first.values)
    ):
        return ()
    header = _msgpack_array_header(len(info.fields))
    return tuple(header + msgspec.msgpack.encode(v) for v in first.values)


def _untagged_layouts() -> dict[tuple[int, str], str]:
    """(array length, first string) -> version, for the untagged layouts (1.6 on).

    An untagged record does not name its version: its length does. Two untagged
    layouts of one length could not be told apart, so a release that keeps the
    field count must carry a tag again; the registry refuses to load otherwise.
    """
    layouts: dict[tuple[int, str], str] = {}
    for version, module in RELEASED.items():
        config = module.Record.__struct_config__
        if config.tag is not None or not config.array_like:
            continue
        keys = [_array_head(head) for head in _record_heads(module.Record)]
        if not keys or any(k is None or _VERSION_TAG.fullmatch(k[1]) for k in keys):
            raise ImportError(
                f"schema {version}: an untagged array's first field must be a Literal of "
                "strings that do not look like versions, or its records could not be detected"
            )
        for key in keys:
            assert key is not None
            if key in layouts:
                raise ImportError(
                    f"schema {version}: an untagged array of {key[0]} fields, like "
                    f"{layouts[key]}'s, so records could not be told apart: "
                    "add a field at the end, or a tag"
                )
            layouts[key] = version
    return layouts


#: The untagged layouts ``_detect_version`` tells apart by length.
_UNTAGGED = _untagged_layouts()
#: How many leading bytes ``detect_version`` looks up first.
_HEAD = 5
#: The first ``_HEAD`` bytes of records of the released tagged msgpack layouts
#: (1.4, 1.5), and the version ``_detect_version`` reads from them: one dict
#: lookup instead of parsing the header. Only heads the parser itself maps from
#: those five bytes alone are listed, so both always agree.
_KNOWN_HEADS: dict[bytes, str] = {
    head[:_HEAD]: version
    for version, module in RELEASED.items()
    for head in _record_heads(module.Record)
    if len(head) >= _HEAD and _detect_version(head[:_HEAD]) == version
}
_ROLE_SET = frozenset(_ROLES)


def _wire_shape(t: object) -> object:
    """What decides how msgspec reads and writes a type (``msgspec.inspect``),
    with each struct's class left out: two shapes that are equal read the same
    bytes into the same values and write the same bytes."""
    if isinstance(t, msgspec.inspect.StructType):
        config = t.cls.__struct_config__
        fields = tuple(
            (
                f.encode_name,
                f.required,
                _wire_shape(f.type),
                None
                if f.required
                else f.default_factory()
                if f.default is msgspec.NODEFAULT
                else f.default,
            )
            for f in t.fields
        )
        return (
            "struct",
            t.tag_field,
            t.tag,
            t.array_like,
            t.forbid_unknown_fields,
            config.omit_defaults,
            fields,
        )
    if isinstance(t, msgspec.inspect.Type):
        return (type(t).__name__, *(_wire_shape(v) for v in msgspec.structs.astuple(t)))
    if isinstance(t, tuple):
        return tuple(_wire_shape(v) for v in t)
    return t


def _reads_as_model(record: type[msgspec.Struct]) -> bool:
    """Whether ``record`` is Message's own fields, in order, as an untagged array of
    the same types (1.6 on): then a record decodes straight into Message's
    constructor arguments, and a Message encodes to a record as its field tuple."""
    info = msgspec.inspect.type_info(record)
    model = msgspec.inspect.type_info(Message)
    return (
        isinstance(info, msgspec.inspect.StructType)
        and isinstance(model, msgspec.inspect.StructType)
        and info.array_like
        and info.tag is None
        and not record.__struct_config__.omit_defaults
        and record.__struct_fields__ == Message.__struct_fields__
        and all(
            _wire_shape(a.type) == _wire_shape(b.type)
            for a, b in zip(info.fields, model.fields, strict=True)
        )
    )


# -- the fast paths: the newest record is the model's field tuple ---------------
#
# get_history and append spend most of their own time building structs. When the
# newest Record reads as the model (above), a record is decoded into a plain tuple
# of Message's field types, in C, and handed to Message's constructor as its
# positional arguments (``starmap``): no Python per field. A Message is written as
# its field tuple, which msgspec encodes byte for byte as the Record.
_FAST = _reads_as_model(_latest.Record)
#: encode_message unpacks a Message's fields into these names; a model of another
#: shape (a release adding a field) takes the field-by-field checks.
_INLINE = _FAST and Message.__struct_fields__ == (
    *("role", "content", "timestamp", "metadata"),
    *("id", "name", "tool_calls", "tool_call_id"),
)
_fields_encoder = msgspec.msgpack.Encoder()
_current_fields: Any = None
if _FAST:
    #: Accepts what the Record's decoder accepts when every field is present (the
    #: same shapes, checked above) and yields the model's own types; a shorter
    #: record is left to the general path, which gives the same answer.
    _current_fields = msgspec.msgpack.Decoder(
        tuple.__class_getitem__(tuple(f.type for f in msgspec.structs.fields(Message)))
    )
#: Decodes a current record the way get_history will (write-time read-back check).
_read_back: Callable[[bytes], object] = _current_fields.decode if _FAST else _latest.decode
#: Fields the newest Record and Message share by name: what the mapping copies.
_SHARED: tuple[str, ...] = tuple(
    f for f in Message.__struct_fields__ if f in _latest.Record.__struct_fields__
)
_ToolCallRecord = _latest.ToolCall
#: Where ``_record_fields`` finds the tool calls (None: the Record has none).
_CALLS = _SHARED.index("tool_calls") if "tool_calls" in _SHARED else None
#: Where a tuple of the Record's fields holds the metadata (the read-back check).
_META = _SHARED.index("metadata") if "metadata" in _SHARED else None
#: Where ``_record_fields`` finds the timestamp (None: the Record has none).
_TIME = _SHARED.index("timestamp") if "timestamp" in _SHARED else None


def _to_message(record: Any) -> Message:
    """The current Message of a current Record (decoded, or upcast from an older one)."""
    if _FAST and not record.tool_calls:  # the Record's fields are Message's arguments
        return Message(*_fields_of(record))
    values = {f: getattr(record, f) for f in _SHARED}
    if values.get("tool_calls"):
        values["tool_calls"] = [ToolCall(c.id, c.name, c.arguments) for c in record.tool_calls]
    return Message(**values)


def _from_message(message: Message) -> Any:
    """The current Record of ``message`` (the generic write path: pinned and subclasses)."""
    values = {f: getattr(message, f) for f in _SHARED}
    if values.get("tool_calls"):
        values["tool_calls"] = [
            _ToolCallRecord(id=c.id, name=c.name, arguments=c.arguments) for c in message.tool_calls
        ]
    if "timestamp" in values:  # checked a real number: stored as the model's float
        values["timestamp"] = float(values["timestamp"])
    return _latest.Record(**values)


# -- shortcuts: one step per record for the layouts sessions hold most -----------
#
# Every session written before an upgrade holds the previous layout, and a mixed
# list until it turns over. Three layouts skip the decode-upcast-map chain: the
# current one (its fields are Message's arguments), 1.4/1.5's (the msgpack layout
# every session held before 1.6) and 1.0's (the seed article's JSON: what a store
# adopting memfix holds), whose wire fields map to Message in one Python step.
# decode_records reads a list with its first record's list reader until a record
# of another layout, then record by record. Each shortcut answers exactly as the
# chain does or raises, and then the chain decides (and names the problem);
# tests/test_decoding.py holds them to that on any bytes. A model that is not
# 1.6's eight fields turns the 1.0 and 1.4/1.5 shortcuts off.


def _current_list(raws: Sequence[bytes]) -> Iterator[Message]:
    return _starmap(Message, map(_current_fields.decode, raws))


def _read_current(raw: bytes) -> Message:
    return Message(*_current_fields.decode(raw))


#: 1.4's role numbers -> the Role literals (1.5 keeps 1.4's enum).
_V1_4_ROLES: dict[int, Role] = {role.value: role.name for role in v1_4.Role}  # type: ignore[misc]
_v1_4_fields = msgspec.msgpack.Decoder(
    tuple[  # type: ignore[misc]
        Literal["1.4", "1.5"],
        str | None,
        Literal.__getitem__(tuple(r.value for r in v1_4.Role)),
        str,
        int,
        dict[str, Any],
        str | None,
        list[v1_4.ToolCall],
        str | None,
    ]
)


def _v1_4_list(raws: Sequence[bytes]) -> Iterator[Message]:
    """The Messages of 1.4/1.5 records: the chain (1.6's upcast, then the mapping),
    in one step per record."""
    roles = _V1_4_ROLES
    return (
        Message(
            roles[role],
            content,
            ts_ms / 1000,  # integer milliseconds on the 1.4/1.5 wire, float seconds in the model
            metadata,
            id,
            name,
            [ToolCall(c.id, c.name, c.arguments) for c in calls] if calls else calls,
            tool_call_id,
        )
        for _tag, id, role, content, ts_ms, metadata, name, calls, tool_call_id in map(
            _v1_4_fields.decode, raws
        )
    )


def _read_v1_4(raw: bytes) -> Message:
    return next(_v1_4_list((raw,)))


_V1_0_ROLE = get_type_hints(v1_0.Record)["role"]


class _V1_0Fields(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A 1.0 record of exactly the article's three members. Any other member (a ``v``
    tag above all, however escaped: the chain reads a tag's raw bytes, msgspec its
    value) sends the record to the chain, which decides as it always did."""

    role: _V1_0_ROLE  # type: ignore[valid-type]
    content: str
    timestamp: float


_v1_0_fields = msgspec.json.Decoder(_V1_0Fields)


def _v1_0_list(raws: Sequence[bytes]) -> Iterator[Message]:
    """The Messages of 1.0 records: the chain (1.2 stores whole milliseconds, later
    versions add fields that 1.0 records never had), in one step per record."""
    return (
        Message(r.role, r.content, round(r.timestamp * 1000) / 1000, {}, None, None, [], None)
        for r in map(_v1_0_fields.decode, raws)
    )


def _read_v1_0(raw: bytes) -> Message:
    return next(_v1_0_list((raw,)))


#: How many leading bytes pick a shortcut: the array and string headers and the
#: string's first character (a role's, or a version tag's), or '{"r' (1.0's JSON).
_SHORTCUT_HEAD = 3


def _shortcuts() -> tuple[
    dict[bytes, Callable[[Sequence[bytes]], Iterator[Message]]],
    dict[bytes, Callable[[bytes], Message]],
]:
    """List and record readers by a record's first ``_SHORTCUT_HEAD`` bytes."""
    lists: dict[bytes, Callable[[Sequence[bytes]], Iterator[Message]]] = {}
    records: dict[bytes, Callable[[bytes], Message]] = {}
    if _INLINE and set(_V1_4_ROLES.values()) <= set(_ROLES) and {"1.4", "1.5"} <= set(RELEASED):
        for version in ("1.4", "1.5"):
            for head in _record_heads(RELEASED[version].Record):
                key = head[:_SHORTCUT_HEAD]
                lists[key], records[key] = _v1_4_list, _read_v1_4
    if _INLINE and set(get_args(_V1_0_ROLE)) <= set(_ROLES) and "1.0" in RELEASED:
        # As the article and 1.0's encoder write them: the role first. Tagged JSON
        # records (1.1-1.3: '{"v') and other member orders take the chain.
        lists[b'{"r'], records[b'{"r'] = _v1_0_list, _read_v1_0
    if _FAST:
        for head in _record_heads(_latest.Record):
            key = head[:_SHORTCUT_HEAD]
            lists[key], records[key] = _current_list, _read_current
    return lists, records


#: The shortcut readers of whole lists and of one record, by a record's first bytes.
_WHOLE_LIST, _SHORTCUTS = _shortcuts()


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
    # The way down passes every version between: one that stores milliseconds
    # (1.2-1.5) rounds the time, as its own writer did, for every version below it.
    rounds_to_ms = any(
        "ts_ms" in RELEASED[v].Record.__struct_fields__ for v in _chain[_chain.index(version) :]
    )
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
            lost = lost_fields(current, record, milliseconds=rounds_to_ms)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            lost = [str(exc)]
        if lost:
            raise ValueError(
                f"message {message.id}: schema {version} cannot represent it losslessly "
                f"({', '.join(lost)}); write it with {CURRENT_VERSION} or drop the field"
            )
        return encoded

    return encode
