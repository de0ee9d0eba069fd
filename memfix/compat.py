"""``memfix check``: static compatibility of versioned msgspec schemas, no server.

Schema registries call it compatibility modes: BACKWARD (the new reader reads
what the old writer stored), FORWARD (the old reader reads what the new writer
stores: rolling deploys and rollback), FULL (both), each optionally TRANSITIVE
(against every earlier version, not only the previous one). The rules are
msgspec's own evolution rules plus the silent breaks measured in
``shared/notes/incidents.md`` (a changed wire name decodes as the default; an
``array_like`` insert shifts values; a changed default under ``omit_defaults``
flips values). Everything comes from ``msgspec.inspect.type_info``, so any list
of Struct types works, memfix's registry or a user's own format.

Each :class:`Finding` names the version, the struct path, the rule and why it
breaks data; ignores are per rule (optionally per version and path) and need a
reason, so an accepted break is a reviewed decision, not a silenced check.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import msgspec.inspect as mi

from memfix.errors import MemfixError

__all__ = [
    "MODES",
    "RULES",
    "CheckConfig",
    "CheckError",
    "Finding",
    "Ignore",
    "check_history",
    "load_config",
    "load_history",
    "render",
]

#: Every rule, and the data it breaks.
RULES: dict[str, str] = {
    "added-required-field": "stored records lack it: decoding fails",
    "removed-field": "the other side requires it: decoding fails",
    "wire-name-changed": "the stored name is no longer read: the field silently decodes as "
    "its default (or fails when required)",
    "type-changed": "stored values of the old type fail to decode, or decode altered",
    "optional-made-required": "stored nulls no longer decode",
    "enum-value-removed": "stored records holding the removed value no longer decode",
    "enum-value-added": "the old reader rejects the new value (msgspec has no enum fallback)",
    "tag-changed": "the reader rejects the writer's tag: nothing of this type decodes",
    "array-like-changed": "object and array layouts do not read each other",
    "array-like-insert": "array_like fields are read by position: values after the insert "
    "shift into the wrong fields (silently when the types agree)",
    "array-like-reorder": "array_like fields are read by position: values swap "
    "(silently when the types agree)",
    "default-changed": "the writer omits default values (omit_defaults): omitted values "
    "silently come back as the reader's different default",
    "field-made-required": "the writer omits the default value (omit_defaults): such records "
    "lack the field and fail to decode",
    "forbid-unknown-fields": "the reader forbids unknown fields: records carrying a field it "
    "does not declare fail to decode",
    "retired-name-reused": "stored records of the version that retired it still carry the old "
    "field under this name: they decode into the new field",
    "constraint-tightened": "stored values outside the new bounds fail to decode",
}

#: The modes, and the directions each checks.
MODES: dict[str, tuple[str, ...]] = {
    "BACKWARD": ("backward",),
    "FORWARD": ("forward",),
    "FULL": ("backward", "forward"),
}


class CheckError(MemfixError):
    """``memfix check`` cannot run: bad import path, mode or configuration."""


@dataclass(frozen=True)
class Finding:
    """One break: ``version`` compared with ``against`` at ``path``."""

    rule: str
    version: str
    against: str
    path: str
    directions: tuple[str, ...]
    detail: str
    ignored: str | None = None  # the configured reason, when an ignore matches

    @property
    def why(self) -> str:
        return RULES[self.rule]

    def line(self) -> str:
        status = "ignored" if self.ignored else "BREAK"
        text = (
            f"{status} {self.version} vs {self.against} {self.path} [{self.rule}] "
            f"({'+'.join(self.directions)}): {self.detail}; {self.why}"
        )
        return text + (f" (ignored: {self.ignored})" if self.ignored else "")


@dataclass(frozen=True)
class Ignore:
    """Accept a rule's findings, optionally only for one version, only against one
    older version (``against``: a layout change every later version shares with
    the versions before it), and a path (a glob)."""

    rule: str
    reason: str
    version: str | None = None
    path: str | None = None
    against: str | None = None

    def matches(self, f: Finding) -> bool:
        if self.rule != f.rule or (self.version is not None and self.version != f.version):
            return False
        if self.against is not None and self.against != f.against:
            return False
        return self.path is None or fnmatch.fnmatchcase(f.path, self.path)


@dataclass
class CheckConfig:
    """``[tool.memfix.check]`` in pyproject.toml."""

    types: str = "memfix.schemas:RELEASED"
    mode: str = "BACKWARD_TRANSITIVE"
    retired: list[str] = field(default_factory=list)
    ignore: list[Ignore] = field(default_factory=list)


# -- the comparison -------------------------------------------------------------------


class _Compare:
    """Findings of one (old, new) pair, in the directions asked for."""

    def __init__(self, directions: Iterable[str]) -> None:
        self.directions = tuple(directions)
        self.found: dict[tuple[str, str], tuple[set[str], str]] = {}
        self._seen: set[tuple[int, int, str]] = set()

    def add(self, rule: str, path: str, direction: str, detail: str) -> None:
        self.found.setdefault((rule, path), (set(), detail))[0].add(direction)

    def run(self, old: Any, new: Any, path: str) -> None:
        for d in self.directions:
            writer, reader = (old, new) if d == "backward" else (new, old)
            self.node(writer, reader, path, d)

    # writer -> reader: can ``reader`` decode, faithfully, what ``writer`` wrote?
    def node(self, w: mi.Type, r: mi.Type, path: str, d: str) -> None:
        if isinstance(r, mi.AnyType):
            return
        if isinstance(w, mi.AnyType):
            self.add("type-changed", path, d, "a value of any type read as a specific type")
            return
        w_members = w.types if isinstance(w, mi.UnionType) else (w,)
        r_members = r.types if isinstance(r, mi.UnionType) else (r,)
        for wm in w_members:
            if isinstance(wm, mi.NoneType):
                if not any(isinstance(rm, mi.NoneType) for rm in r_members):
                    rule = "optional-made-required" if d == "backward" else "type-changed"
                    self.add(rule, path, d, "null written, the reader does not accept null")
                continue
            match = self._counterpart(wm, r_members)
            if match is None:
                tagged = isinstance(wm, mi.StructType) and any(
                    isinstance(rm, mi.StructType) for rm in r_members
                )
                self.add(
                    "tag-changed" if tagged else "type-changed",
                    path,
                    d,
                    f"{_name(wm)} written, the reader expects {_name(r)}",
                )
            else:
                self.same_kind(wm, match, path, d)

    def _counterpart(self, w: mi.Type, readers: Sequence[mi.Type]) -> mi.Type | None:
        """The reader member that decodes ``w``'s values (same kind, or a safe widening)."""
        if isinstance(w, mi.StructType):
            structs = [r for r in readers if isinstance(r, mi.StructType)]
            tagged = [r for r in structs if r.tag == w.tag and r.tag_field == w.tag_field]
            if tagged:
                return tagged[0]
            return structs[0] if len(structs) == 1 and len(readers) == 1 else None
        for r in readers:
            if type(r) is type(w) or _widens(w, r):
                return r
        arrays = (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)
        if isinstance(w, arrays):
            return next((r for r in readers if isinstance(r, arrays)), None)
        return None

    def same_kind(self, w: mi.Type, r: mi.Type, path: str, d: str) -> None:
        if isinstance(w, mi.StructType) and isinstance(r, mi.StructType):
            self.struct(w, r, path, d)
        elif isinstance(w, (mi.LiteralType, mi.EnumType)) and isinstance(
            r, (mi.LiteralType, mi.EnumType)
        ):
            missing = _values(w) - _values(r)
            if missing:
                rule = "enum-value-removed" if d == "backward" else "enum-value-added"
                shown = ", ".join(sorted(map(repr, missing)))
                self.add(rule, path, d, f"value(s) {shown} not accepted by the reader")
        elif isinstance(w, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
            assert isinstance(r, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType))
            if isinstance(r, (mi.SetType, mi.FrozenSetType)) and not isinstance(
                w, (mi.SetType, mi.FrozenSetType)
            ):
                self.add("type-changed", path, d, "a list read as a set: duplicates dropped")
            self.node(w.item_type, r.item_type, path + "[]", d)
            self._constraints(w, r, path, d)
        elif isinstance(w, mi.TupleType) and isinstance(r, mi.TupleType):
            if len(w.item_types) != len(r.item_types):
                self.add("type-changed", path, d, "tuple length changed")
            for i, (wi, ri) in enumerate(zip(w.item_types, r.item_types, strict=False)):
                self.node(wi, ri, f"{path}[{i}]", d)
        elif isinstance(w, mi.DictType) and isinstance(r, mi.DictType):
            self.node(w.key_type, r.key_type, path + "{key}", d)
            self.node(w.value_type, r.value_type, path + "{}", d)
            self._constraints(w, r, path, d)
        elif type(w) is type(r):
            self._constraints(w, r, path, d)

    def _constraints(self, w: mi.Type, r: mi.Type, path: str, d: str) -> None:
        names = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")
        tighter = [
            n
            for n in names
            if getattr(r, n, None) is not None and getattr(r, n) != getattr(w, n, None)
        ]
        if tighter:
            shown = ", ".join(f"{n}={getattr(r, n)!r}" for n in tighter)
            self.add("constraint-tightened", path, d, f"the reader requires {shown}")

    def struct(self, w: mi.StructType, r: mi.StructType, path: str, d: str) -> None:
        key = (id(w.cls), id(r.cls), d)
        if key in self._seen:  # recursive types
            return
        self._seen.add(key)
        if (w.tag, w.tag_field if not w.array_like else None) != (
            r.tag,
            r.tag_field if not r.array_like else None,
        ):
            self.add(
                "tag-changed",
                path,
                d,
                f"tag {w.tag_field}={w.tag!r} written, the reader expects {r.tag_field}={r.tag!r}",
            )
        if w.array_like != r.array_like:
            self.add("array-like-changed", path, d, "array_like switched")
            return
        old, new = (w, r) if d == "backward" else (r, w)
        if w.array_like:
            self._positional(w, r, old, new, path, d)
        else:
            self._named(w, r, old, new, path, d)

    def _positional(
        self, w: mi.StructType, r: mi.StructType, old: Any, new: Any, path: str, d: str
    ) -> None:
        o_names = [f.name for f in old.fields]
        n_names = [f.name for f in new.fields]
        common = min(len(o_names), len(n_names))
        if o_names[:common] != n_names[:common]:
            inserted = [n for n in n_names if n not in o_names]
            rule = (
                "array-like-insert"
                if inserted and [n for n in n_names if n in o_names] == o_names
                else "array-like-reorder"
            )
            shown = ", ".join(inserted) if rule == "array-like-insert" else ", ".join(n_names)
            self.add(rule, path, d, f"fields {o_names} became {n_names} ({shown})")
            return
        for wf, rf in zip(w.fields, r.fields, strict=False):
            self._field(wf, rf, w, path, d)
        for rf in r.fields[len(w.fields) :]:
            if rf.required:
                self._missing(rf, path, d)
        if len(w.fields) > len(r.fields) and r.forbid_unknown_fields:
            self.add("forbid-unknown-fields", path, d, "extra trailing fields written")

    def _named(
        self, w: mi.StructType, r: mi.StructType, old: Any, new: Any, path: str, d: str
    ) -> None:
        w_by = {f.encode_name: f for f in w.fields}
        r_by = {f.encode_name: f for f in r.fields}
        renamed = {
            f.name
            for f in old.fields
            for g in new.fields
            if f.name == g.name and f.encode_name != g.encode_name
        }
        for name in sorted(renamed):
            of = next(f for f in old.fields if f.name == name)
            nf = next(f for f in new.fields if f.name == name)
            self.add(
                "wire-name-changed",
                f"{path}.{name}",
                d,
                f"stored as {of.encode_name!r}, now read as {nf.encode_name!r}",
            )
        for wire, rf in r_by.items():
            wf = w_by.get(wire)
            if wf is None:
                if rf.required and rf.name not in renamed:
                    self._missing(rf, path, d)
            else:
                self._field(wf, rf, w, path, d)
        unknown = [wire for wire in w_by if wire not in r_by]
        if unknown and r.forbid_unknown_fields:
            self.add("forbid-unknown-fields", path, d, f"field(s) {unknown} written")

    def _missing(self, rf: mi.Field, path: str, d: str) -> None:
        if d == "backward":
            self.add("added-required-field", f"{path}.{rf.name}", d, "new field has no default")
        else:
            self.add("removed-field", f"{path}.{rf.name}", d, "the old reader requires it")

    def _field(self, wf: mi.Field, rf: mi.Field, w: mi.StructType, path: str, d: str) -> None:
        fpath = f"{path}.{rf.name}"
        self.node(wf.type, rf.type, fpath, d)
        if not w.cls.__struct_config__.omit_defaults or wf.required:
            return
        if rf.required:
            self.add("field-made-required", fpath, d, "the default value is omitted on write")
        elif _default(wf) != _default(rf):
            self.add(
                "default-changed",
                fpath,
                d,
                f"default {_default(wf)!r} omitted on write, read back as {_default(rf)!r}",
            )


def _widens(w: mi.Type, r: mi.Type) -> bool:
    """Safe widenings: every value of ``w`` decodes unchanged as ``r``."""
    if isinstance(w, mi.IntType) and isinstance(r, mi.FloatType):
        return True
    if isinstance(w, (mi.LiteralType, mi.EnumType)):
        values = _values(w)
        if isinstance(r, mi.StrType):
            return all(isinstance(v, str) for v in values)
        if isinstance(r, mi.IntType):
            return all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    return False


def _values(t: mi.LiteralType | mi.EnumType) -> set[object]:
    if isinstance(t, mi.LiteralType):
        return set(t.values)
    return {m.value for m in t.cls}


def _default(f: mi.Field) -> object:
    if f.default_factory is not msgspec.NODEFAULT:
        return f.default_factory()
    return f.default


def _name(t: mi.Type) -> str:
    if isinstance(t, mi.StructType):
        return f"{t.cls.__name__}(tag={t.tag!r})"
    if isinstance(t, mi.UnionType):
        return " | ".join(_name(m) for m in t.types)
    return type(t).__name__.removesuffix("Type").lower()


# -- the retired-name ledger -------------------------------------------------------------


def _wire_names(t: mi.Type, path: str, out: dict[str, set[str]], seen: set[int]) -> None:
    """Wire names of every named (not array_like) struct reachable from ``t``, by path."""
    if isinstance(t, mi.UnionType):
        for m in t.types:
            _wire_names(m, path, out, seen)
    elif isinstance(t, mi.StructType):
        if id(t.cls) in seen:
            return
        seen = seen | {id(t.cls)}
        if not t.array_like:
            out.setdefault(path, set()).update(f.encode_name for f in t.fields)
        for f in t.fields:
            _wire_names(f.type, f"{path}.{f.name}", out, seen)
    elif isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        _wire_names(t.item_type, path + "[]", out, seen)
    elif isinstance(t, mi.DictType):
        _wire_names(t.value_type, path + "{}", out, seen)


def _retired_reuse(
    names: list[dict[str, set[str]]], k: int, ledger: Iterable[str]
) -> list[tuple[str, str]]:
    """(path, name) pairs version ``k`` declares that an earlier version retired."""
    retired: dict[str, set[str]] = {}
    for entry in ledger:
        path, _, name = entry.rpartition(".")
        retired.setdefault(path, set()).add(name)
    for i in range(k):
        for j in range(i + 1, k):
            for path, present in names[i].items():
                if path in names[j]:
                    retired.setdefault(path, set()).update(present - names[j][path])
    return sorted(
        (path, name)
        for path, declared in names[k].items()
        for name in declared & retired.get(path, set())
    )


# -- running a check -------------------------------------------------------------------------


def parse_mode(mode: str) -> tuple[tuple[str, ...], bool]:
    base, _, suffix = mode.upper().partition("_")
    if base not in MODES or suffix not in ("", "TRANSITIVE"):
        modes = ", ".join(f"{m}[_TRANSITIVE]" for m in MODES)
        raise CheckError(f"unknown compatibility mode {mode!r} (one of {modes})")
    return MODES[base], suffix == "TRANSITIVE"


def check_history(
    history: Mapping[str, type[msgspec.Struct]],
    mode: str = "BACKWARD_TRANSITIVE",
    *,
    retired: Iterable[str] = (),
    ignore: Sequence[Ignore] = (),
) -> list[Finding]:
    """Check each version against the previous one (or every earlier one, TRANSITIVE).

    ``history`` maps version labels to Struct types, oldest first; the last is
    the candidate. ``retired`` lists ``<path>.<wire name>`` entries retired
    before the history starts (e.g. ``Record.timestamp``).
    """
    directions, transitive = parse_mode(mode)
    versions = list(history)
    infos = [mi.type_info(history[v]) for v in versions]
    # One root label for every version (the oldest type's name), so paths and
    # ignores stay stable when a user's versions are classes named V1, V2, ...
    root = infos[0].cls.__name__ if isinstance(infos[0], mi.StructType) else "root"
    roots = [root] * len(infos)
    names: list[dict[str, set[str]]] = []
    for info in infos:
        names.append({})
        _wire_names(info, root, names[-1], set())
    ledger = list(retired)
    findings: list[Finding] = []
    for k in range(1, len(versions)):
        for i in range(k - 1, -1, -1) if transitive else (k - 1,):
            cmp = _Compare(directions)
            cmp.run(infos[i], infos[k], roots[k])
            for (rule, path), (dirs, detail) in cmp.found.items():
                findings.append(
                    Finding(rule, versions[k], versions[i], path, _ordered(dirs), detail)
                )
        for path, name in _retired_reuse(names, k, ledger):
            findings.append(
                Finding(
                    "retired-name-reused",
                    versions[k],
                    versions[k - 1],
                    f"{path}.{name}",
                    directions,
                    f"{name!r} was a field of an earlier version, removed since",
                )
            )
    out = []
    for f in findings:
        reason = next((i.reason for i in ignore if i.matches(f)), None)
        out.append(Finding(**{**f.__dict__, "ignored": reason}) if reason else f)
    return out


def _ordered(dirs: set[str]) -> tuple[str, ...]:
    return tuple(d for d in ("backward", "forward") if d in dirs)


def load_history(spec: str) -> dict[str, type[msgspec.Struct]]:
    """Versioned Struct types from an import path ``package.module:attr``.

    ``attr`` is a mapping of version -> Struct type (or -> module with a
    ``Record``, like ``memfix.schemas:RELEASED``), or a sequence of
    (version, type) pairs, or a sequence of Struct types (labelled by tag).
    """
    obj = import_object(spec)
    items: Iterable[Any]
    if isinstance(obj, Mapping):
        items = obj.items()
    elif isinstance(obj, Sequence) and not isinstance(obj, str):
        items = [x if isinstance(x, tuple) else (_label(x), x) for x in obj]
    else:
        raise CheckError(f"{spec}: expected a mapping or list of versioned Struct types")
    history: dict[str, type[msgspec.Struct]] = {}
    for version, value in items:
        t = value.Record if isinstance(value, ModuleType) else value
        if not (isinstance(t, type) and issubclass(t, msgspec.Struct)):
            raise CheckError(f"{spec}: version {version} is not a msgspec Struct type")
        history[str(version)] = t
    if not history:
        raise CheckError(f"{spec}: no versions to check")
    return history


def _label(t: Any) -> str:
    config = getattr(t, "__struct_config__", None)
    return str(config.tag) if config is not None and config.tag else str(getattr(t, "__name__", t))


def import_object(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise CheckError(f"{spec!r}: expected an import path package.module:attribute")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise CheckError(f"{spec}: cannot import: {exc}") from None
    return obj


def load_config(pyproject: Path) -> CheckConfig:
    """``[tool.memfix.check]`` of ``pyproject``; defaults when the file or table is absent."""
    if not pyproject.is_file():
        return CheckConfig()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CheckError(f"{pyproject}: {exc}") from None
    table = data.get("tool", {}).get("memfix", {}).get("check", {})
    try:
        ignores = [
            Ignore(
                rule=i["rule"],
                reason=i["reason"],
                version=i.get("version"),
                path=i.get("path"),
                against=i.get("against"),
            )
            for i in table.get("ignore", [])
        ]
    except (KeyError, TypeError) as exc:
        raise CheckError(
            f"{pyproject}: [tool.memfix.check] ignore entries need rule and reason ({exc})"
        ) from None
    unknown = sorted({i.rule for i in ignores} - set(RULES))
    if unknown:
        raise CheckError(f"{pyproject}: [tool.memfix.check] ignores unknown rule(s) {unknown}")
    return CheckConfig(
        types=table.get("types", CheckConfig.types),
        mode=table.get("mode", CheckConfig.mode),
        retired=list(table.get("retired", [])),
        ignore=ignores,
    )


# -- output ------------------------------------------------------------------------------


def render(
    findings: Sequence[Finding],
    fmt: str,
    history: Mapping[str, type[msgspec.Struct]],
    mode: str,
) -> str:
    """``text``, ``json`` or ``github`` (workflow annotations)."""
    breaks = [f for f in findings if not f.ignored]
    if fmt == "json":
        return json.dumps(
            {
                "mode": mode,
                "versions": list(history),
                "breaks": len(breaks),
                "findings": [{**f.__dict__, "why": f.why} for f in findings],
            },
            indent=2,
        )
    if fmt == "github":
        lines = []
        for f in findings:
            where = _source(history[f.version])
            level = "notice" if f.ignored else "error"
            props = f"title={_prop('memfix check: ' + f.rule)}"
            if where:
                props = f"file={_prop(where[0])},line={where[1]}," + props
            lines.append(f"::{level} {props}::{_data(f.line())}")
        return "\n".join(lines)
    head = f"mode {mode}: {', '.join(history)}"
    body = [f.line() for f in findings]
    ignored = len(findings) - len(breaks)
    tail = f"{len(breaks)} break(s)" + (f", {ignored} ignored" if ignored else "")
    if not breaks:
        tail = "ok: " + tail
    return "\n".join([head, *body, tail])


def _source(t: type) -> tuple[str, int] | None:
    try:
        file = inspect.getsourcefile(t)
        line = inspect.getsourcelines(t)[1]
    except (OSError, TypeError):
        return None
    if file is None:
        return None
    path = Path(file)
    cwd = Path.cwd().resolve()
    resolved = path.resolve()
    return str(resolved.relative_to(cwd) if resolved.is_relative_to(cwd) else resolved), line


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")
