"""Every released wire version: detection, decoding, upcasting to the current Message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import msgspec
import pytest

from memfix import Message, SchemaError, ToolCall, schemas
from memfix.goldens import RestoreMode, find_goldens, restored_server
from memfix.schemas import v1_0, v1_1, v1_2, v1_3, v1_4
from memfix.servers import default_spec
from memfix.store import RedisMemoryStore
from memfix.version import Version
from tests.test_record_verify import REPO

ONE_OF_EACH = {
    "1.0": b'{"role": "user", "content": "hi", "timestamp": 1700000000.25}',
    "1.1": b'{"v":"1.1","role":"user","content":"hi","timestamp":1700000000.25,"metadata":{"k":1}}',
    "1.2": b'{"v":"1.2","id":"a1","role":"user","content":"hi","ts_ms":1700000000250}',
    "1.3": b'{"v":"1.3","id":"a2","role":"assistant","content":"","ts_ms":1700000000250,'
    b'"tool_calls":[{"id":"c1","name":"f","arguments":{"x":1}}]}',
    "1.4": v1_4.encode(
        v1_4.Record("a3", v1_4.Role.tool, "42", 1700000000250, name="f", tool_call_id="c1")
    ),
}


def test_every_released_version_is_registered_in_order() -> None:
    """Discovered from the v<major>_<minor>.py files: the newest one is current."""
    on_disk = sorted(
        (Version.parse(p.stem[1:].replace("_", ".")), p.stem)
        for p in Path(schemas.__file__).parent.glob("v*_*.py")
    )
    assert [m.__name__.rsplit(".", 1)[1] for m in schemas.RELEASED.values()] == [
        stem for _, stem in on_disk
    ]
    assert list(schemas.RELEASED)[:5] == ["1.0", "1.1", "1.2", "1.3", "1.4"]  # history
    assert list(schemas.RELEASED)[-1] == schemas.CURRENT_VERSION
    for version, module in schemas.RELEASED.items():
        assert version == module.VERSION


@pytest.mark.parametrize(
    "bad", ["1", "1.04", "01.4", "1.4.0", "\u0661.\u0664", "1.4\n", " 1.4", "v1.4"]
)
def test_version_refuses_what_is_not_major_minor(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a version"):
        Version.parse(bad)


def test_current_constants_derive_from_the_newest_module() -> None:
    """The fast path, the heads and the Message mapping follow the newest Record."""
    assert schemas._FAST  # the newest Record is the model's own fields: one C call per record
    heads = schemas._record_heads(schemas.RELEASED[schemas.CURRENT_VERSION].Record)
    for role in ("system", "user", "assistant", "tool"):
        raw = schemas.encode_message(Message(role, "x", 1.0, name="f", tool_call_id="c"))
        assert raw.startswith(b"\x98" + msgspec.msgpack.encode(role))  # 8 fields, the role first
        assert [h for h in heads if raw.startswith(h)] != []
        assert schemas.detect_version(raw) == schemas.CURRENT_VERSION
    assert schemas.unmapped_fields() == []  # every Message field is stored


def test_a_model_of_other_types_takes_the_generic_path() -> None:
    """The fast path holds only while the Record reads exactly as the model: a Record
    whose field types differ (here: content may be null) must not take it."""
    current = schemas.RELEASED[schemas.CURRENT_VERSION].Record
    assert schemas._reads_as_model(current)
    looser = msgspec.defstruct(
        "Looser",
        [
            (f.name, f.type if f.name != "content" else str | None)
            for f in msgspec.structs.fields(current)
        ],
        array_like=True,
    )
    tagged = msgspec.defstruct(
        "Tagged",
        [(f.name, f.type) for f in msgspec.structs.fields(current)],
        array_like=True,
        tag="9.9",
    )
    assert not schemas._reads_as_model(looser) and not schemas._reads_as_model(tagged)


def test_untagged_layouts_of_one_length_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """An untagged record names no version, its length does: a second untagged release
    with the same field count could not be told apart, so the registry refuses it."""
    current = schemas.RELEASED[schemas.CURRENT_VERSION]
    monkeypatch.setitem(schemas.RELEASED, "9.9", current)
    with pytest.raises(ImportError, match="could not be told apart"):
        schemas._untagged_layouts()


@pytest.mark.parametrize(
    "first",
    [str, Literal["user", "1.9"]],
    ids=["any-string", "a-version-like-value"],
)
def test_an_untagged_layout_its_records_could_not_be_detected_by_is_refused(
    monkeypatch: pytest.MonkeyPatch, first: object
) -> None:
    record = msgspec.defstruct("Record", [("role", first), ("n", int)], array_like=True)
    module = type(schemas)("fake")
    module.Record = record  # type: ignore[attr-defined]
    monkeypatch.setitem(schemas.RELEASED, "9.9", module)
    with pytest.raises(ImportError, match="records could not be detected"):
        schemas._untagged_layouts()


def test_a_pinned_write_forgives_only_the_precision_the_old_version_has() -> None:
    """1.2-1.5 store milliseconds, so their writers round; a version that stores the
    float must get it back exactly, or the field is lost."""
    from memfix.schemas.downcast import lost_fields

    current = schemas.RELEASED[schemas.CURRENT_VERSION].Record
    a, b = current("user", "x", 1.0001), current("user", "x", 1.0)
    assert lost_fields(a, b) == ["timestamp"]
    assert lost_fields(a, b, milliseconds=True) == []
    assert lost_fields(a, current("user", "x", 1.002), milliseconds=True) == ["timestamp"]


def test_record_heads_and_unmapped_fields_can_fail() -> None:
    class Wide(msgspec.Struct, array_like=True, tag="2.10"):
        a: int
        b: int = 0
        c: int = 0
        d: int = 0
        e: int = 0
        f: int = 0
        g: int = 0
        h: int = 0
        i: int = 0
        j: int = 0
        k: int = 0
        m: int = 0
        n: int = 0
        o: int = 0
        p: int = 0

    assert schemas._record_heads(Wide) == (b"\xdc\x00\x10\xa42.10",)  # array16 header
    assert msgspec.msgpack.encode(Wide(1)).startswith(schemas._record_heads(Wide)[0])

    class Compact(msgspec.Struct, array_like=True, tag="2.0", omit_defaults=True):
        a: int = 0

    class Json(msgspec.Struct, tag_field="v", tag="2.0"):
        a: int = 0

    class Untagged(msgspec.Struct, array_like=True):
        kind: Literal["a", "bb"]
        n: int = 0

    class Open(msgspec.Struct, array_like=True):
        kind: str

    assert schemas._record_heads(Compact) == () and schemas._record_heads(Json) == ()
    assert schemas._record_heads(Untagged) == (b"\x92\xa1a", b"\x92\xa2bb")
    assert schemas._record_heads(Open) == ()  # any string first: no fixed head
    assert schemas.unmapped_fields(v1_3.Record) == []
    assert schemas.unmapped_fields(v1_2.Record) == ["name", "tool_calls", "tool_call_id"]


@pytest.mark.parametrize("version", list(ONE_OF_EACH))
def test_detect_version_from_the_first_bytes(version: str) -> None:
    assert schemas.detect_version(ONE_OF_EACH[version]) == version


def test_a_foreign_writer_with_the_tag_elsewhere_is_still_detected() -> None:
    raw = b'{"role":"user","content":"x","metadata":{"a":1},"timestamp":1,"v":"1.1"}'
    assert schemas.detect_version(raw) == "1.1"
    assert schemas.decode_record(raw).metadata == {"a": 1}
    # "v" as a *value* does not confuse detection.
    assert schemas.detect_version(b'{"role":"user","content":"v","timestamp":1}') == "1.0"


def test_each_version_upcasts_to_the_current_message() -> None:
    decoded = {v: schemas.decode_record(raw) for v, raw in ONE_OF_EACH.items()}
    assert decoded["1.0"] == Message("user", "hi", 1700000000.25, id=None)
    assert decoded["1.1"] == Message("user", "hi", 1700000000.25, metadata={"k": 1}, id=None)
    assert decoded["1.2"] == Message("user", "hi", 1700000000.25, id="a1")
    assert decoded["1.3"] == Message(
        "assistant", "", 1700000000.25, id="a2", tool_calls=[ToolCall("c1", "f", {"x": 1})]
    )
    assert decoded["1.4"] == Message(
        "tool", "42", 1700000000.25, id="a3", name="f", tool_call_id="c1"
    )


def test_the_current_version_round_trips_every_field() -> None:
    m = Message(
        "assistant",
        "x ✓",
        1.5,
        metadata={"m": [1, 2]},
        id="i",
        name=None,
        tool_calls=[ToolCall("c", "t", {"a": {"b": None}})],
    )
    raw = schemas.encode_message(m)
    assert schemas.detect_version(raw) == schemas.CURRENT_VERSION
    assert schemas.decode_record(raw) == m


def test_1_0_wire_is_the_seed_articles_json() -> None:
    raw = v1_0.encode(v1_0.Record("user", "hi", 1.5))
    assert json.loads(raw) == {"role": "user", "content": "hi", "timestamp": 1.5}


def test_1_4_records_are_smaller_than_1_0_json() -> None:
    m = Message(
        "assistant", "Sure. How many days do you have, and what season?", 1700000000.123, id=None
    )
    old = v1_0.encode(v1_0.Record("assistant", m.content, m.timestamp))
    assert len(schemas.encode_message(m)) < len(old)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"v":"0.9","role":"user"}', "schema version 0.9 is not one this code knows"),
        (b"\x93\xa30.9\x01\x02", "schema version 0.9 is not one this code knows"),
        (b'{"v":"1.2","role":"user","content":"x","ts_ms":"soon"}', "Expected `int`, got `str`"),
        (b"\x92\xa31.4\x01", "Expected `array` of at least length 5"),
        (b"plain text", "no released schema version matches"),
        (b"", "no released schema version matches"),
    ],
)
def test_undecodable_records_say_why(raw: bytes, message: str) -> None:
    with pytest.raises(
        SchemaError, match=message.replace("`", ".").replace("(", ".").replace(")", ".")
    ):
        schemas.decode_record(raw)


def test_released_json_schemas_are_valid_json_schema() -> None:
    for version in schemas.RELEASED:
        schema = schemas.json_schema(version)
        assert "$defs" in schema and "Record" in json.dumps(schema)


def test_a_session_spanning_all_versions_loads_in_order() -> None:
    """golden 1.4's `timeline` holds 5 turns from each release: all load, in order, as Messages."""
    golden = next(g for g in find_goldens(REPO / "golden") if str(g.version) == "1.4")
    with restored_server(golden, default_spec(), RestoreMode.RDB) as server:
        raws: list[bytes] = server.client.lrange("session:timeline:messages", 0, -1)  # type: ignore[assignment]
        assert [schemas.detect_version(r) for r in raws] == [
            v for v in ["1.0", "1.1", "1.2", "1.3", "1.4"] for _ in range(5)
        ]
        history = RedisMemoryStore(server.client).get_history("timeline", limit=None)
    assert len(history) == 25
    assert all(isinstance(m, Message) for m in history)
    assert [m.content.split("]")[0] for m in history] == [
        f"[{v}" for v in ["1.0", "1.1", "1.2", "1.3", "1.4"] for _ in range(5)
    ]
    stamps = [m.timestamp for m in history]
    assert stamps == sorted(stamps)


def test_released_modules_are_independent_of_the_current_model() -> None:
    """Frozen modules must not import memfix.model: editing the model must not change them."""
    for module in schemas.RELEASED.values():
        assert not any(
            getattr(obj, "__module__", "") == "memfix.model" for obj in vars(module).values()
        ), module.__name__
    assert msgspec.json.decode(v1_1.encode(v1_1.upcast(v1_0.Record("user", "x", 1.0)))) == {
        "v": "1.1",
        "role": "user",
        "content": "x",
        "timestamp": 1.0,
    }
