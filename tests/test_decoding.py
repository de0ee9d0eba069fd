"""Property: ``decode_records`` decodes each record on its own, for any bytes.

The fast path for current-version records must never accept a list that the
record-by-record path refuses, nor turn a corrupt record into a plausible message
by borrowing bytes from its neighbour: the answer for a list is always the
per-record answer, and the first record that does not decode alone is named.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import fractions
import gc
import json
from typing import Any, get_args, get_type_hints

import msgspec
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis (the dev extra) is not installed")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from memfix import Message, SchemaError, ToolCall, schemas  # noqa: E402
from tests.test_schemas import ONE_OF_EACH  # noqa: E402

CURRENT = schemas.RELEASED[schemas.CURRENT_VERSION]
#: How every current record of a user's message starts.
PREFIX = next(h for h in schemas._record_heads(CURRENT.Record) if b"user" in h)


def _nested(depth: int) -> object:
    value: object = {}
    for _ in range(depth):
        value = {"k": value}
    return value


json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars | st.binary(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
messages = st.builds(
    Message,
    role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=st.text(max_size=40),
    timestamp=st.integers(0, 2**40).map(lambda ms: ms / 1000),
    metadata=st.dictionaries(st.text(max_size=4), json_values, max_size=3),
    id=st.none() | st.text(min_size=1, max_size=40),
    name=st.none() | st.text(max_size=6),
    tool_calls=st.lists(
        st.builds(
            ToolCall,
            id=st.text(max_size=4),
            name=st.text(max_size=4),
            arguments=st.dictionaries(st.text(max_size=3), json_values, max_size=2),
        ),
        max_size=2,
    ),
    tool_call_id=st.none() | st.text(max_size=6),
)
records = messages.map(schemas.encode_message) | st.sampled_from(list(ONE_OF_EACH.values()))


@st.composite
def damaged_lists(draw: st.DrawFn) -> list[bytes]:
    """Valid records, then cuts, splices, truncations, prefixes and random bytes."""
    raws = draw(st.lists(records, min_size=1, max_size=5))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(raws) - 1))
        raw = raws[i]
        cut = draw(st.integers(0, max(len(raw), 1)))
        op = draw(st.sampled_from(["truncate", "shift", "glue", "garbage", "prefix", "flip"]))
        if op == "truncate":
            raws[i] = raw[:cut]
        elif op == "shift" and i + 1 < len(raws):  # the tail of one record moves to the next
            raws[i], raws[i + 1] = raw[:cut], raw[cut:] + raws[i + 1]
        elif op == "glue" and i + 1 < len(raws):  # two records in one list element
            raws[i : i + 2] = [raw + raws[i + 1]]
        elif op == "garbage":
            raws[i] = draw(st.binary(max_size=30))
        elif op == "prefix":
            raws[i] = PREFIX + draw(st.binary(max_size=30))
        elif op == "flip" and raw:
            at = cut % len(raw)
            raws[i] = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    return raws


def alone(raw: bytes) -> Message | SchemaError:
    try:
        return schemas.decode_record(raw)
    except SchemaError as exc:
        return exc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_lists())
def test_a_list_decodes_exactly_as_its_records_do_alone(raws: list[bytes]) -> None:
    assert_list_reads_as(raws, [alone(raw) for raw in raws])


def through_the_chain(raw: bytes) -> Message | SchemaError:
    """What the decode-upcast chain alone answers (no shortcut)."""
    try:
        return schemas._read_any(raw)
    except SchemaError as exc:
        return exc


def assert_list_reads_as(raws: list[bytes], each: list[Message | SchemaError]) -> None:
    """``decode_records`` answers ``each``'s messages, or fails at its first refusal."""
    bad = [i for i, r in enumerate(each) if isinstance(r, SchemaError)]
    if not bad:
        assert schemas.decode_records(raws) == each
        return
    with pytest.raises(SchemaError) as info:
        schemas.decode_records(raws)
    assert info.value.index == bad[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=4))
def test_random_bytes_never_decode_as_messages_they_are_not(raws: list[bytes]) -> None:
    each = [alone(raw) for raw in raws]
    bad = [i for i, r in enumerate(each) if isinstance(r, SchemaError)]
    if bad:
        with pytest.raises(SchemaError) as info:
            schemas.decode_records(raws)
        assert info.value.index == bad[0]
    else:
        assert schemas.decode_records(raws) == each


def test_the_property_can_fail() -> None:
    """The check is not vacuous: a list whose records only decode together is caught."""
    prefix = PREFIX
    a = schemas.encode_message(Message("user", "a", 1.0, metadata={"b": prefix + b"zz"}))
    b = schemas.encode_message(Message("user", "b", 2.0))
    cut = a.index(prefix, 1)
    raws = [a[:cut], a[cut:] + b]
    assert [type(alone(r)) for r in raws] == [SchemaError, SchemaError]
    with pytest.raises(SchemaError) as info:
        schemas.decode_records(raws)
    assert info.value.index == 0


@settings(max_examples=300, deadline=None)
@given(messages)
def test_the_fast_encoder_writes_the_released_modules_bytes(message: Message) -> None:
    """encode_message builds a tuple, not a Record: the bytes must be the same."""
    assert schemas.encode_message(message) == CURRENT.encode(schemas._from_message(message))
    assert schemas.decode_records([schemas.encode_message(message)]) == [
        schemas._to_message(CURRENT.decode(schemas.encode_message(message)))
    ]


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (Message("user", 123, 1.0), "would not read back"),  # type: ignore[arg-type]
        (Message("user", "x", 1.0, metadata={1: "int key"}), "would not read back"),  # type: ignore[dict-item]
        (Message("user", "x", float("inf")), "cannot be stored"),
        (Message("user", "x", 1.0, metadata={"o": object()}), "cannot be stored"),
        (Message("user", "x", 1.0, metadata={"big": 2**70}), "cannot be stored"),
        (Message("user", "x", 1.0, id=7), "would not read back"),  # type: ignore[arg-type]
        (Message("user", "x", 1.0, tool_calls=None), "would not read back"),  # type: ignore[arg-type]
        (Message("user", "x", 1.0, tool_calls=""), "would not read back"),  # type: ignore[arg-type]
        (Message("user", "x", 1.0, tool_calls="ab"), "would not read back"),  # type: ignore[arg-type]
        # Plain fields (the inline path): msgspec cannot write a lone surrogate as UTF-8.
        (Message("user", "a\ud800", 1.0, id="s"), "message 's' cannot be stored: 'utf-8'"),
        (Message(["user"], "x", 1.0), "role \\['user'\\] is not one of"),  # type: ignore[arg-type]
    ],
    ids=[
        *("int-content", "int-key", "inf-timestamp", "object", "int-2**70", "int-id"),
        *("none-tool-calls", "empty-str-tool-calls", "str-tool-calls"),
        *("lone-surrogate", "unhashable-role"),
    ],
)
def test_a_message_that_would_not_read_back_is_refused(message: Message, text: str) -> None:
    with pytest.raises(ValueError, match=text):
        schemas.encode_message(message)


class _Shouty(str, enum.Enum):
    """Equal to, and hashed as, any spelling of its value: USER passes for "user"."""

    USER = "USER"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.value.lower() == other.lower()

    def __hash__(self) -> int:
        return hash(self.value.lower())


def test_a_role_that_only_compares_equal_to_a_known_one_is_read_back_first() -> None:
    """msgspec writes the member's own string, "USER", which no reader takes. The
    inline path trusts exact types only."""
    assert _Shouty.USER in {"user"}
    with pytest.raises(ValueError, match="would not read back"):
        schemas.encode_message(Message(_Shouty.USER, "x", 1.0, id="a"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "message",
    [
        Message("user", 123, 1.0),  # type: ignore[arg-type]
        Message("user", "x", 1.0, metadata={1: "int key"}),  # type: ignore[dict-item]
        Message("user", "x", 1e30),
        Message("user", "x", 1.0, tool_calls=None),  # type: ignore[arg-type]
        Message("user", "x", 1.0, metadata={"n": _nested(150)}),
    ],
    ids=["int-content", "int-key", "huge-timestamp", "none-tool-calls", "too-deep"],
)
@pytest.mark.parametrize("lossless", [True, False])
def test_a_pinned_writer_refuses_the_same_with_a_value_error(
    message: Message, lossless: bool
) -> None:
    """write_version takes another encode path: it must refuse what the current one does,
    as a ValueError before anything is written."""
    previous = list(schemas.RELEASED)[-2]
    with pytest.raises(ValueError):
        schemas.message_encoder(previous, lossless=lossless)(message)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"v":"1.3","role":"user","content":"\xff\xfe","ts_ms":1}',
        b'{"v":"1.3","role":"user","content":"x","ts_ms":1,"metadata":{"k":'
        + b"[" * 5000
        + b"]" * 5000
        + b"}}",
    ],
    ids=["invalid-utf8", "nested-5000"],
)
def test_decode_as_an_earlier_release_fails_only_with_schema_error(raw: bytes) -> None:
    with pytest.raises(SchemaError):
        schemas.decode_as(raw, list(schemas.RELEASED)[-2])


def test_a_bad_tool_call_next_to_good_fields_is_refused() -> None:
    """The cheap type check must look at tool calls even when every other field is fine."""
    bad = ToolCall(7, "f", {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="would not read back"):
        schemas.encode_message(Message("assistant", "", 1.0, tool_calls=[bad]))


@dataclasses.dataclass(frozen=True)
class _Key:
    """A hashable key msgspec writes as a map, which no reader can use as a key."""

    x: int


@pytest.mark.parametrize(
    "metadata",
    [
        {"a": {_Key(1): 1}},
        {"a": msgspec.msgpack.Ext(-1, b"xx")},
        {"a": [msgspec.Raw(b"\xc1")]},
    ],
    ids=["dataclass-key", "bad-timestamp-ext", "raw-reserved-byte"],
)
def test_metadata_that_would_not_read_back_at_any_depth_is_refused(
    metadata: dict[str, object],
) -> None:
    """Metadata is read back before it is written, whatever its depth: a nested value
    msgspec writes but cannot read would make the whole session unreadable."""
    with pytest.raises(ValueError, match=r"would not read back|cannot be stored"):
        schemas.encode_message(Message("user", "x", 1.0, metadata=metadata))
    with pytest.raises(ValueError, match=r"would not read back|cannot be stored"):
        schemas.encode_message(
            Message("assistant", "", 1.0, tool_calls=[ToolCall("i", "f", metadata)])
        )


@pytest.mark.parametrize(
    "timestamp",
    [10**400, float("nan"), -float("inf"), "1.0", None, True, decimal.Decimal("1.5")],
    ids=["int-past-float", "nan", "-inf", "str", "none", "bool", "decimal"],
)
def test_a_timestamp_that_is_not_a_finite_real_is_refused_with_a_value_error(
    timestamp: object,
) -> None:
    message = Message("user", "x", timestamp, id="i")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot be stored"):
        schemas.encode_message(message)
    with pytest.raises(ValueError, match="cannot be stored"):
        schemas.message_encoder(list(schemas.RELEASED)[-2])(message)


class _Real(float):
    """A float subclass, as numpy's float64 is."""


def test_a_real_timestamp_of_any_type_is_stored_as_the_float_it_is() -> None:
    as_float = schemas.encode_message(Message("user", "x", 5.0, id="i"))
    for timestamp in (5, _Real(5.0), fractions.Fraction(5)):
        assert schemas.encode_message(Message("user", "x", timestamp, id="i")) == as_float  # type: ignore[arg-type]
    (read,) = schemas.decode_records([as_float])
    assert type(read.timestamp) is float


def test_tool_calls_in_a_tuple_or_of_a_subclass_are_stored_as_plain_tool_calls() -> None:
    class Tracked(ToolCall, frozen=True):
        secret: str = "s"

    plain = Message("assistant", "x", 1.0, id="i", tool_calls=[ToolCall("1", "f", {"q": 1})])
    expected = schemas.encode_message(plain)
    for calls in ((ToolCall("1", "f", {"q": 1}),), [Tracked("1", "f", {"q": 1}, "zz")]):
        message = Message("assistant", "x", 1.0, id="i", tool_calls=calls)  # type: ignore[arg-type]
        assert schemas.encode_message(message) == expected
        assert b"secret" not in schemas.message_encoder("1.5")(message)
    with pytest.raises(ValueError, match="cannot be stored"):
        schemas.encode_message(Message("assistant", "x", 1.0, tool_calls=({"id": "1"},)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "recode",
    [
        lambda raw: b"\xdd\x00\x00\x00\x08" + raw[1:],  # array32 header
        lambda raw: b"\x98\xd9\x04user" + raw[6:],  # the role as a str8
    ],
    ids=["array32", "str8-role"],
)
def test_other_writers_headers_read_alike_alone_and_in_any_list(recode: Any) -> None:
    """msgspec reads any msgpack header; so must version detection, or a record would
    read in one list and not in another."""
    raw = schemas.encode_message(Message("user", "hi", 1.5, id="a"))
    odd = recode(raw)
    assert schemas.detect_version(odd) == schemas.CURRENT_VERSION
    old = b'{"role":"user","content":"old","timestamp":1.0}'
    alone = schemas.decode_record(odd)
    assert schemas.decode_records([odd]) == schemas.decode_records([old, odd])[1:] == [alone]


_JSON_TYPES = (str, int, float, bool, type(None), list, dict)


def _json_only(value: object) -> bool:
    if isinstance(value, dict):
        return all(type(k) is str and _json_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_only(v) for v in value)
    return type(value) in _JSON_TYPES


@pytest.mark.parametrize("version", list(ONE_OF_EACH))
def test_read_messages_are_untracked_and_hold_no_cycle(version: str) -> None:
    """``Message`` and ``ToolCall`` are ``gc=False``: the cycle collector never
    sees them, which is safe because what a record decodes to holds only JSON
    builtins (no reference back to a message can form)."""
    (message,) = schemas.decode_records([ONE_OF_EACH[version]])
    assert not gc.is_tracked(message)
    assert all(not gc.is_tracked(call) for call in message.tool_calls)
    fields = [getattr(message, f) for f in message.__struct_fields__ if f != "tool_calls"]
    calls = [[c.id, c.name, c.arguments] for c in message.tool_calls]
    assert _json_only(fields) and _json_only(calls)
    # the check can fail: the same message as a gc=True struct is tracked
    tracked = msgspec.defstruct("Tracked", [("metadata", dict)], frozen=True)
    assert gc.is_tracked(tracked({"a": []}))
    assert not _json_only([object()])


def test_the_first_record_that_fails_is_named_whichever_step_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mixed lists decode and upcast every record before building any Message: a record
    whose mapping fails must still be named before a later one that does not decode."""

    def broken(record: msgspec.Struct) -> msgspec.Struct:  # an upcast yielding no tool call
        return msgspec.structs.replace(record, tool_calls=[None])

    # 1.1 takes the chain (1.0, 1.4, 1.5 and the current layout have shortcuts).
    monkeypatch.setitem(schemas._upcasts, "1.1", [*schemas._upcasts["1.1"], broken])
    old = b'{"v":"1.1","role":"user","content":"hi","timestamp":1.0}'
    current = schemas.encode_message(Message("user", "fine", 2.0))
    for raws, index in (([current, old, b"garbage"], 1), ([current, b"garbage", old], 1)):
        with pytest.raises(SchemaError) as info:
            schemas.decode_records(raws)
        assert info.value.index == index
    with pytest.raises(SchemaError, match="upcasting to"):
        schemas.decode_records([old, b"garbage"])


heads = st.sampled_from([*schemas._KNOWN_HEADS, b"", b"{", b' {"v":"', b'{"v":"1.2"'])


@settings(max_examples=300, deadline=None)
@given(heads, st.binary(max_size=20) | records)
def test_the_known_heads_lookup_answers_as_the_parser_does(head: bytes, tail: bytes) -> None:
    """detect_version looks the first bytes up before parsing them: never another answer."""
    assert schemas._KNOWN_HEADS  # the lookup is in use for the current layout
    for raw in (head + tail, tail, head[:3] + tail):
        assert schemas.detect_version(raw) == schemas._detect_version(raw)


class _Ambiguous:
    """A value whose truth cannot be told (a numpy array's ``bool()`` raises)."""

    def __bool__(self) -> bool:
        raise ValueError("the truth value is ambiguous")


odd_values = (
    json_values
    | st.floats(allow_nan=True)
    | st.builds(object)
    | st.builds(_Ambiguous)
    | st.just(b"x")
)


@st.composite
def odd_messages(draw: st.DrawFn) -> Message:
    """A valid message with one or two fields replaced by anything (a Message is not
    type-checked when built): each check of the encoder meets its own odd value."""
    message = draw(messages)
    fields = draw(st.lists(st.sampled_from(Message.__struct_fields__), min_size=1, max_size=2))
    odd = {
        "role": st.sampled_from(["robot", "USER", ""]) | odd_values,
        "metadata": st.dictionaries(st.integers(), json_values, min_size=1, max_size=2)
        | odd_values,
        "tool_calls": st.lists(odd_values, min_size=1, max_size=2) | odd_values,
    }
    return msgspec.structs.replace(message, **{f: draw(odd.get(f, odd_values)) for f in fields})


class _Same(Message, frozen=True):
    """A subclass with no field of its own: encode_message checks it field by field
    (``_check_storable``), where a plain ``Message`` takes the inline checks."""


def _outcome(message: Message) -> bytes | tuple[str, str]:
    try:
        return schemas.encode_message(message)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=500, deadline=None)
@given(messages | odd_messages())
def test_the_inline_checks_accept_and_refuse_what_the_full_checks_do(message: Message) -> None:
    """The same bytes, or the same error in the same words, whichever checks ran."""
    same = _Same(**msgspec.structs.asdict(message))
    assert _outcome(message) == _outcome(same)


def test_a_message_subclass_with_more_fields_is_stored_as_a_message() -> None:
    class Tagged(Message, frozen=True):
        tenant: str = "t1"

    tagged = Tagged("user", "hi", 1.0, id="a")
    assert schemas.encode_message(tagged) == schemas.encode_message(
        Message("user", "hi", 1.0, id="a")
    )


def test_a_subclass_whose_timestamp_fails_is_refused_like_any_unstorable_message() -> None:
    class Computed(Message, frozen=True):
        @property  # type: ignore[misc]
        def timestamp(self) -> float:
            raise AttributeError("no clock")

    with pytest.raises(ValueError, match="message 'a' cannot be stored: no clock"):
        schemas.encode_message(Computed("user", "hi", id="a"))


def test_decoding_into_a_list_appends_or_leaves_it_as_it_was() -> None:
    """get_history fills its History in place: a failure must not leave half a list."""
    first = Message("user", "kept", 1.0)
    good = [schemas.encode_message(Message("user", f"m{i}", float(i))) for i in range(3)]
    into = [first]
    assert schemas.decode_records(good, into) is into
    assert [m.content for m in into] == ["kept", "m0", "m1", "m2"]
    into = [first]
    with pytest.raises(SchemaError) as info:
        schemas.decode_records([*good, b"garbage"], into)
    assert info.value.index == 3 and into == [first]
    old = b'{"role":"user","content":"old","timestamp":1.0}'  # the general path appends too
    assert [m.content for m in schemas.decode_records([old, *good], [first])] == [
        *("kept", "old", "m0", "m1", "m2")
    ]


def _pinned(version: str) -> st.SearchStrategy[bytes]:
    """Records as release ``version`` wrote them (what it had no field for left out)."""
    encode = schemas.message_encoder(version, lossless=False)
    roles = get_args(get_type_hints(schemas.RELEASED[version].Record)["role"])
    writable = messages.filter(lambda m: m.role in roles) if "tool" not in roles else messages
    return writable.map(encode)


@st.composite
def article_records(draw: st.DrawFn) -> bytes:
    """1.0 records as other writers leave them: the seed article's ``json.dumps``
    (spaces, any member order, int or float times), extra members, a ``v`` member
    anywhere (1.0's or a later version's), and near misses."""
    members: dict[str, Any] = {
        "role": draw(st.sampled_from(["system", "user", "assistant", "tool", "User"])),
        "content": draw(st.text(max_size=20) | st.sampled_from(['"v"', "v", "{}"])),
        "timestamp": draw(
            st.floats(allow_nan=False, allow_infinity=False, width=64)
            | st.integers(-(2**70), 2**70)
            | st.integers(0, 2**40).map(lambda ms: ms / 1000)
        ),
    }
    for extra in draw(st.lists(st.sampled_from(["v", "metadata", "id", "x"]), max_size=2)):
        members[extra] = draw(st.sampled_from(["1.0", "1.1", "1.3", None, 1, {}]))
    if draw(st.booleans()):
        del members[draw(st.sampled_from(sorted(members)))]
    order = draw(st.permutations(sorted(members)))
    compact = draw(st.booleans())
    return json.dumps(
        {k: members[k] for k in order}, separators=(",", ":") if compact else None
    ).encode()


#: JSON records whose tag or keys are spelled with escapes: the chain's detection reads
#: the raw bytes, msgspec the unescaped text (a review found a list reader trusting it).
escaped_json = st.sampled_from(
    [
        b'{"v":"1\\u002e0","role":"assistant","content":"b","timestamp":2}',
        b'{"v":"1\\u002e1","role":"user","content":"c","timestamp":3}',
        b'{"\\u0076":"1.1","role":"user","content":"d","timestamp":4}',
        b'{"role":"user","content":"e","timestamp":5,"\\u0076":"1.3"}',
        b'{"\\u0072ole":"user","content":"f","timestamp":6}',
        b'{"role":"user","content":"g","timestamp":7,"v":"1.0"}',
        b'{"role":"user","role":"tool","content":"h","timestamp":8}',
    ]
)
#: The seed article's own records: json.dumps of role, content and any float time.
article_written = st.builds(
    lambda role, content, timestamp: json.dumps(
        {"role": role, "content": content, "timestamp": timestamp}
    ).encode(),
    st.sampled_from(["system", "user", "assistant"]),
    st.text(max_size=20),
    st.floats(0, 2e9),
)
#: Records of the layouts with a shortcut: the current one, 1.5, 1.4 and 1.0.
shortcut_layouts = (
    messages.map(schemas.encode_message)
    | _pinned("1.5")
    | _pinned("1.4")
    | _pinned("1.0")
    | article_written
)
layouts = (
    records
    | _pinned("1.5")
    | _pinned("1.4")
    | _pinned("1.3")
    | _pinned("1.1")
    | _pinned("1.0")
    | article_records()
    | escaped_json
)


@st.composite
def damaged_records(draw: st.DrawFn) -> bytes:
    raw = draw(layouts)
    at = draw(st.integers(0, max(len(raw) - 1, 0)))
    op = draw(st.sampled_from(["keep", "flip", "truncate", "extend"]))
    if op == "flip" and raw:
        return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    if op == "truncate":
        return raw[:at]
    if op == "extend":
        return raw + draw(st.binary(min_size=1, max_size=4))
    return raw


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_records())
def test_a_shortcut_answers_as_the_decode_upcast_chain_or_declines(raw: bytes) -> None:
    """The one-step readers (current, 1.4/1.5 and 1.0 layouts) never accept what the
    chain refuses, nor answer otherwise; when they decline, the chain decides."""
    read = schemas._SHORTCUTS.get(raw[: schemas._SHORTCUT_HEAD])
    if read is None:
        return
    try:
        fast = read(raw)
    except Exception:
        return
    assert fast == schemas._read_any(raw)
    assert type(fast.timestamp) is float and all(type(c) is ToolCall for c in fast.tool_calls)


@settings(max_examples=200, deadline=None)
@given(shortcut_layouts)
def test_every_layout_with_a_shortcut_takes_it(raw: bytes) -> None:
    """Not vacuous: valid 1.0, 1.4, 1.5 and current records are read in one step."""
    assert schemas._SHORTCUTS[raw[: schemas._SHORTCUT_HEAD]](raw) == schemas._read_any(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layouts, min_size=1, max_size=6))
def test_a_mixed_list_reads_as_its_records_do(raws: list[bytes]) -> None:
    """The whole-list readers stop at the first record of another layout; the records
    read before it are kept and the rest are read one by one. A list holding a record
    the chain refuses fails at the first such record."""
    assert_list_reads_as(raws, [through_the_chain(raw) for raw in raws])


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "1.5"])
def test_a_pinned_write_rounds_the_time_to_the_millisecond_as_that_release_did(
    version: str,
) -> None:
    """Every way down from 1.6 passes a version that stores milliseconds: writing 1.0
    or 1.1 rounds as 1.2-1.5 did (their writers did too), and is not refused."""
    raw = schemas.message_encoder(version)(Message("user", "x", 1700000000.123456, id=None))
    assert schemas.decode_record(raw).timestamp == 1700000000.123


@dataclasses.dataclass
class _Box:
    """A container ``_too_deep`` does not walk: depth hidden from the input check."""

    inner: object


def _boxed(depth: int) -> object:
    value: object = {}
    for _ in range(depth):
        value = _Box(value)
    return value


@pytest.mark.parametrize(
    "message",
    [
        Message("assistant", "", 1.0, tool_calls=(ToolCall("i", "f", _nested(500)),)),  # type: ignore[arg-type]
        Message("user", "x", 1.0, metadata={"a": _boxed(300)}),
        Message("user", "x", 1.0, metadata={"a": _boxed(5000)}),
    ],
    ids=["tuple-of-calls-too-deep", "depth-inside-dataclasses", "deeper-than-the-stack"],
)
def test_nesting_a_reader_cannot_decode_is_refused_however_it_is_built(message: Message) -> None:
    with pytest.raises(ValueError, match=r"nest|cannot be stored|would not read back"):
        schemas.encode_message(message)


def test_a_1_0_list_hands_an_escaped_tag_to_the_chain() -> None:
    """The list reader of 1.0 records read the escaped tag "1\\u002e0" as 1.0 while
    the chain (and the record reader) refuse it: its answer depended on where the
    record sat in the list."""
    first = b'{"role":"user","content":"a","timestamp":1}'
    escaped = b'{"v":"1\\u002e0","role":"assistant","content":"b","timestamp":2}'
    for raws, index in (([first, escaped], 1), ([escaped, first], 0)):
        with pytest.raises(SchemaError) as info:
            schemas.decode_records(raws)
        assert info.value.index == index


def test_decoding_into_a_list_appends_nothing_whatever_the_failure() -> None:
    old = b'{"role":"user","content":"old","timestamp":1.0}'
    into: list[Message] = []
    with pytest.raises(TypeError):
        schemas.decode_records([old, "not bytes"], into)  # type: ignore[list-item]
    assert into == []
