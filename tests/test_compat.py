# ruff: noqa: E501  (the rule table reads best one case per line)
"""``memfix check``: each rule fails the change it names and passes its safe counterpart."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest
from click.testing import CliRunner

from memfix import compat
from memfix.cli import main
from memfix.compat import Ignore, check_history
from memfix.schemas import RELEASED, v1_3, v1_4
from tests.test_record_verify import REPO

# -- candidates 1.5 of memfix's own chain -------------------------------------------------


class RenamedWire(msgspec.Struct, tag_field="v", tag="1.5", omit_defaults=True):
    """1.3's JSON record with ``content`` stored as "text" (the golden mutation's change)."""

    id: str | None
    role: Literal["system", "user", "assistant", "tool"]
    content: str = msgspec.field(name="text")
    ts_ms: int = 0
    metadata: dict[str, Any] = {}
    name: str | None = None
    tool_calls: list[v1_3.ToolCall] = []
    tool_call_id: str | None = None


class InsertedMidStruct(msgspec.Struct, array_like=True, tag="1.5"):
    """1.4's array record with a field inserted before ``name``."""

    id: str | None
    role: v1_4.Role
    content: str
    ts_ms: int
    metadata: dict[str, Any] = {}
    summary: str | None = None
    name: str | None = None
    tool_calls: list[v1_4.ToolCall] = []
    tool_call_id: str | None = None


class AppendedAtEnd(v1_4.Record, tag="1.5"):
    """What `memfix schema new` plus one optional field gives: compatible."""

    reasoning: str | None = None


def released(upto: str) -> dict[str, type[msgspec.Struct]]:
    versions = list(RELEASED)
    return {v: RELEASED[v].Record for v in versions[: versions.index(upto) + 1]}


def config() -> compat.CheckConfig:
    return compat.load_config(REPO / "pyproject.toml")


def breaks(history: dict[str, type[msgspec.Struct]], mode: str = "BACKWARD") -> set[str]:
    cfg = config()
    found = check_history(history, mode, retired=cfg.retired, ignore=cfg.ignore)
    return {f"{f.version} {f.path} {f.rule}" for f in found if not f.ignored}


def test_the_released_chain_passes_with_its_findings_explained() -> None:
    cfg = config()
    found = check_history(compat.load_history(cfg.types), cfg.mode, ignore=cfg.ignore)
    assert found and all(f.ignored for f in found)  # listed, each with its reason
    assert {f.rule for f in found} == {
        *("tag-changed", "added-required-field", "array-like-changed", "array-like-reorder")
    }
    # without the ignores the same chain fails: the check is not vacuous
    assert any(not f.ignored for f in check_history(compat.load_history(cfg.types), cfg.mode))


def test_a_candidate_renaming_a_wire_field_fails() -> None:
    assert breaks({**released("1.3"), "1.5": RenamedWire}) == {
        "1.5 Record.content wire-name-changed"
    }
    # and the same edit made to the released 1.3 module, as tests/test_mutations.py does
    assert breaks({"1.3": v1_3.Record, "1.3-edited": RenamedWire}, "FULL") >= {
        "1.3-edited Record.content wire-name-changed"
    }


def test_a_candidate_inserting_mid_array_like_fails() -> None:
    assert breaks({**released("1.4"), "1.5": InsertedMidStruct}) == {"1.5 Record array-like-insert"}


def test_a_candidate_appending_an_optional_field_passes() -> None:
    assert breaks({**released("1.4"), "1.5": AppendedAtEnd}, "BACKWARD_TRANSITIVE") == set()
    # rollback safe too, apart from the new tag (which write_version pinning handles)
    assert breaks({"1.4": v1_4.Record, "1.5": AppendedAtEnd}, "FULL") == set()


# -- each rule: a failing and a passing change ------------------------------------------------


class Color(enum.Enum):
    red = "red"
    blue = "blue"


class Color2(enum.Enum):
    red = "red"
    blue = "blue"
    green = "green"


def pair(
    old_fields: str, new_fields: str, old_opts: str = "", new_opts: str = ""
) -> tuple[type, type]:
    """Two versions of a struct ``R`` from field source lines (nested types in scope)."""
    scope: dict[str, Any] = {
        "msgspec": msgspec,
        "Any": Any,
        "Literal": Literal,
        "Color": Color,
        "Color2": Color2,
        "Inner": Inner,
        "InnerRequired": InnerRequired,
        "Strict": Strict,
        "Annotated": __import__("typing").Annotated,
    }
    types = []
    for fields, opts in ((old_fields, old_opts), (new_fields, new_opts)):
        body = "\n".join(f"    {line.strip()}" for line in fields.split(";")) or "    pass"
        source = f"class R(msgspec.Struct{opts}):\n{body}\n"
        exec(compile(source, "<case>", "exec", dont_inherit=True), scope)
        types.append(scope["R"])
    return types[0], types[1]


class Inner(msgspec.Struct):
    a: int
    b: str = ""


class InnerRequired(msgspec.Struct):
    a: int
    b: str
    c: int


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    a: int


CASES: list[tuple[str, str, tuple[str, str, str, str], tuple[str, str, str, str]]] = [
    # rule, mode, failing (old, new, old opts, new opts), passing counterpart
    ("added-required-field", "BACKWARD", ("a: int", "a: int; b: int", "", ""),
     ("a: int", "a: int; b: int = 0", "", "")),
    ("removed-field", "FORWARD", ("a: int; b: int", "a: int", "", ""),
     ("a: int; b: int = 0", "a: int", "", "")),
    ("wire-name-changed", "BACKWARD", ("a: int = 0", 'a: int = msgspec.field(default=0, name="x")', "", ""),
     ('a: int = msgspec.field(default=0, name="x")', 'a: int = msgspec.field(default=0, name="x")', "", "")),
    ("wire-name-changed", "BACKWARD", ("a: int = 0; b_b: int = 0", "a: int = 0; b_b: int = 0", "", ', rename="camel"'),
     ("a: int = 0", "a: int = 0", "", ', rename="camel"')),
    ("type-changed", "BACKWARD", ("a: float", "a: int", "", ""), ("a: int", "a: float", "", "")),
    ("type-changed", "BACKWARD", ("a: list[int]", "a: set[int]", "", ""), ("a: list[int]", "a: list[float]", "", "")),
    ("added-required-field", "BACKWARD", ("a: list[Inner]", "a: list[InnerRequired]", "", ""),
     ("a: list[Inner]", "a: list[Inner]", "", "")),
    ("optional-made-required", "BACKWARD", ("a: int | None", "a: int", "", ""), ("a: int", "a: int | None", "", "")),
    ("enum-value-removed", "BACKWARD", ('a: Literal["x", "y"]', 'a: Literal["x"]', "", ""),
     ('a: Literal["x"]', 'a: Literal["x", "y"]', "", "")),
    ("enum-value-added", "FORWARD", ("a: Color", "a: Color2", "", ""), ("a: Color2", "a: Color", "", "")),
    ("tag-changed", "BACKWARD", ("a: int", "a: int", ', tag="one"', ', tag="two"'),
     ("a: int", "a: int", ', tag="one"', ', tag="one"')),
    ("tag-changed", "BACKWARD", ("a: int", "a: int", ', tag="one"', ', tag="one", tag_field="kind"'),
     ("a: int", "a: int", ', tag="one", tag_field="kind"', ', tag="one", tag_field="kind"')),
    ("array-like-changed", "BACKWARD", ("a: int", "a: int", "", ", array_like=True"),
     ("a: int", "a: int", ", array_like=True", ", array_like=True")),
    ("array-like-insert", "FULL", ("a: int; c: int = 0", "a: int; b: int = 0; c: int = 0", ", array_like=True", ", array_like=True"),
     ("a: int; c: int = 0", "a: int; c: int = 0; b: int = 0", ", array_like=True", ", array_like=True")),
    ("array-like-reorder", "FULL", ("a: int; b: int", "b: int; a: int", ", array_like=True", ", array_like=True"),
     ("a: int; b: int", "a: int; b: int", ", array_like=True", ", array_like=True")),
    ("default-changed", "BACKWARD", ("a: int = 0", "a: int = 1", ", omit_defaults=True", ", omit_defaults=True"),
     ("a: int = 0", "a: int = 1", "", "")),
    ("field-made-required", "BACKWARD", ("a: int = 0", "a: int", ", omit_defaults=True", ""),
     ("a: int = 0", "a: int", "", "")),
    ("forbid-unknown-fields", "BACKWARD", ("a: int; b: int = 0", "a: int", "", ", forbid_unknown_fields=True"),
     ("a: int; b: int = 0", "a: int", "", "")),
    ("forbid-unknown-fields", "FORWARD", ("a: Strict", "a: Inner", "", ""), ("a: Inner", "a: Strict", "", "")),
    ("constraint-tightened", "BACKWARD", ("a: str", "a: Annotated[str, msgspec.Meta(max_length=3)]", "", ""),
     ("a: Annotated[str, msgspec.Meta(max_length=3)]", "a: str", "", "")),
    ("type-changed", "BACKWARD", ("a: dict[str, int]", "a: dict[str, str]", "", ""),
     ("a: dict[str, int]", "a: dict[str, Any]", "", "")),
    ("type-changed", "BACKWARD", ("a: Inner | None", "a: int | None", "", ""),
     ("a: Inner | None", "a: Inner | None", "", "")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "mode", "failing", "passing"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_each_rule_fails_its_change_and_passes_the_safe_one(
    rule: str, mode: str, failing: tuple[str, str, str, str], passing: tuple[str, str, str, str]
) -> None:
    old, new = pair(*failing)
    found = check_history({"1": old, "2": new}, mode)
    assert rule in {f.rule for f in found}, found
    hit = next(f for f in found if f.rule == rule)
    assert hit.version == "2" and hit.against == "1" and hit.path.startswith("R")
    assert hit.why == compat.RULES[rule] and rule in hit.line()
    old, new = pair(*passing)
    assert [f for f in check_history({"1": old, "2": new}, mode) if f.rule == rule] == []


def test_retired_name_reused_from_history_and_from_the_ledger() -> None:
    v1, v2 = pair("a: int; old: str = ''", "a: int")
    _, v3 = pair("a: int", "a: int; old: int = 0")
    found = check_history({"1": v1, "2": v2, "3": v3}, "BACKWARD")
    assert [(f.rule, f.version, f.path) for f in found] == [("retired-name-reused", "3", "R.old")]
    assert check_history({"1": v1, "2": v2}, "BACKWARD") == []  # retiring is fine
    assert [f.rule for f in check_history({"2": v2, "3": v3}, "BACKWARD")] == []
    ledger = check_history({"2": v2, "3": v3}, "BACKWARD", retired=["R.old"])
    assert [f.rule for f in ledger] == ["retired-name-reused"]


def test_transitive_compares_with_every_earlier_version() -> None:
    v1, v2 = pair("a: int", "a: int; b: int = 0")
    _, v3 = pair("a: int", "a: int; b: int")  # b required: 2 has it, 1 does not
    assert {f.against for f in check_history({"1": v1, "2": v2, "3": v3}, "BACKWARD")} == set()
    found = check_history({"1": v1, "2": v2, "3": v3}, "BACKWARD_TRANSITIVE")
    assert [(f.rule, f.version, f.against) for f in found] == [("added-required-field", "3", "1")]


def test_nested_paths_are_named() -> None:
    old, new = pair("xs: list[Inner] = []", "xs: list[InnerRequired] = []")
    found = check_history({"1": old, "2": new}, "BACKWARD")
    assert {(f.rule, f.path) for f in found} == {("added-required-field", "R.xs[].c")}
    old, new = pair("m: dict[str, Inner | None] = {}", "m: dict[str, Inner] = {}")
    (f,) = check_history({"1": old, "2": new}, "BACKWARD")
    assert (f.rule, f.path) == ("optional-made-required", "R.m{}")


def test_ignores_need_a_matching_rule_version_and_path() -> None:
    old, new = pair("a: int", "a: int; b: int")
    (f,) = check_history({"1": old, "2": new}, "BACKWARD")
    assert Ignore("added-required-field", "ok", version="2", path="R.*", against="1").matches(f)
    assert not Ignore("added-required-field", "ok", version="3").matches(f)
    assert not Ignore("added-required-field", "ok", against="2").matches(f)
    assert not Ignore("removed-field", "ok").matches(f)
    assert not Ignore("added-required-field", "ok", path="R.a").matches(f)


# -- the command --------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_passes_the_released_chain() -> None:
    code, out = run("check", "--config", str(REPO / "pyproject.toml"))
    assert code == 0, out
    assert out.splitlines()[0] == "mode BACKWARD_TRANSITIVE: " + ", ".join(RELEASED)
    assert out.splitlines()[-1].startswith("ok: 0 break(s), ")


@pytest.mark.parametrize(
    ("candidate", "rule"),
    [("InsertedMidStruct", "array-like-insert"), ("RenamedWire", "wire-name-changed")],
)
def test_cli_fails_a_breaking_candidate_in_every_format(candidate: str, rule: str) -> None:
    base = ["check", "--config", str(REPO / "pyproject.toml"), "--as", "1.5"]
    base += ["--candidate", f"tests.test_compat:{candidate}"]
    if candidate == "RenamedWire":  # a JSON candidate: compare with the JSON releases
        base += ["--types", "tests.test_compat:RELEASED_JSON"]
    code, out = run(*base)
    assert code == 1 and "BREAK 1.5 vs" in out and f"[{rule}]" in out
    found = [line for line in out.splitlines() if line.startswith("BREAK")]
    assert all("BREAK 1.5 vs" in line and f"[{rule}]" in line for line in found)  # transitive
    assert out.splitlines()[-1].startswith(f"{len(found)} break(s)")
    code, out = run(*base, "--format", "json")
    data = json.loads(out)
    hits = [f for f in data["findings"] if not f["ignored"]]
    assert code == 1 and data["breaks"] == len(hits) == len(found)
    assert {(f["rule"], f["version"], f["why"]) for f in hits} == {
        (rule, "1.5", compat.RULES[rule])
    }
    code, out = run(*base, "--format", "github")
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert code == 1 and len(errors) == len(found)
    assert "file=tests/test_compat.py,line=" in errors[0]
    assert f"title=memfix check%3A {rule}::" in errors[0]


RELEASED_JSON = released("1.3")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--types", "nope.nothing:X"], "nope.nothing:X: cannot import: No module named 'nope'"),
        (["--types", "memfix.schemas"], "expected an import path package.module:attribute"),
        (["--types", "memfix.schemas:CURRENT_VERSION"], "expected a mapping or list"),
        (["--mode", "SIDEWAYS"], "unknown compatibility mode 'SIDEWAYS'"),
        (["--candidate", "memfix.schemas:RELEASED"], "not a msgspec Struct type"),
    ],
)
def test_cli_errors_are_one_line(args: list[str], message: str) -> None:
    code, out = run("check", "--config", str(REPO / "pyproject.toml"), *args)
    assert code == 1 and out.startswith("Error: ") and out.count("\n") == 1, out
    assert message in out


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[tool.memfix.check]\nignore = [{ rule = "added-required-field" }]\n')
    code, out = run("check", "--config", str(bad))
    assert code == 1 and "ignore entries need rule and reason" in out and out.count("\n") == 1
    bad.write_text('[tool.memfix.check]\nignore = [{ rule = "nope", reason = "x" }]\n')
    code, out = run("check", "--config", str(bad))
    assert code == 1 and "ignores unknown rule(s) ['nope']" in out
    # no configuration: the released chain's deliberate findings are breaks again
    code, out = run("check", "--config", str(tmp_path / "absent.toml"))
    assert code == 1 and "[tag-changed]" in out
