"""Write-side goldens: does the current code still *write* what its golden holds?

Goldens are committed bytes, so a test that only reads them cannot see a
change in what the current code writes: the seed incident itself (the writer
switches to pickle while the readers stay), a companion key renamed, a value
normalised or truncated on write, a TTL no longer set. For the version a golden
set's format writes today, this check replays what ``memfix record`` did
(:func:`memfix.goldens.record.scenario_server`: the previous golden its manifest
names, then the format's scenario through the current code, on a fresh server)
and compares the result with the committed golden of that version:

- the keys: each one still written, with the same type and size, expiring or
  not as before (a renamed key is reported as a rename when its data is equal);
- the raw records, where the format promises byte-stable output
  (:func:`memfix.formats.byte_stable`; memfix's own format does): the first
  differing record of each key, by index, with the encoding its bytes look like
  (``pickle?``), or the first differing byte;
- the sessions as the current code reads them back, against the golden read by
  the same code: the first message index and field that differ, or the record
  the current code cannot read although it just wrote it.

Each difference is one line naming the key (and index) or session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from memfix.errors import FormatError, GoldenError
from memfix.formats import Format, Version, byte_stable, writer_of
from memfix.goldens.case import CaseSkipped, check_golden
from memfix.goldens.dump import (
    Entry,
    HashEntry,
    KeyspaceDump,
    ListEntry,
    SetEntry,
    StringEntry,
    ZSetEntry,
    dump_keyspace,
    key_text,
    restore_dump,
    value_bytes,
)
from memfix.goldens.golden import Golden
from memfix.goldens.meaning import cap_lines, first_mismatch, session_differences
from memfix.goldens.record import scenario_server
from memfix.goldens.sets import GoldenSet
from memfix.goldens.view import build_view, layout_of
from memfix.servers import ServerError, ServerSpec, default_spec

__all__ = [
    "WriteSideResult",
    "check_set_write_side",
    "check_write_side",
    "describe_record_change",
    "dump_differences",
    "guess_encoding",
    "write_side_golden",
]


@dataclass(frozen=True)
class WriteSideResult:
    """What the current writer produced, compared with the committed golden."""

    golden: str  # the golden compared (its label: ``1.4``, ``chat 0.3``)
    previous: str | None  # the golden restored before the scenario ran
    server: str
    byte_stable: bool  # raw records were compared, not only keys and sessions
    keys: int  # keys in the committed golden
    records: int  # list elements compared byte for byte (0 unless byte_stable)
    sessions: int  # sessions compared as read back
    lines: tuple[str, ...]  # one per difference; empty when the writer is unchanged
    writer: str = "the current writer"  # who wrote the scenario (the format's ``writer``)

    @property
    def ok(self) -> bool:
        return not self.lines

    def summary(self) -> str:
        """One line for a verify report."""
        if self.ok:
            raw = f", {self.records} records byte for byte" if self.byte_stable else ""
            return (
                f"{self.writer} reproduces golden {self.golden}: {self.keys} keys{raw}, "
                f"{self.sessions} sessions read back"
            )
        return f"{self.writer} no longer writes golden {self.golden}: " + "; ".join(self.lines[:3])

    def report(self) -> str:
        """Every line, for a test failure or ``memfix verify``."""
        head = (
            f"golden {self.golden} (scenario run on {self.server}"
            + (f" over golden {self.previous}" if self.previous else "")
            + "): "
        )
        if self.ok:
            return head + "unchanged"
        return (
            head
            + f"{len(self.lines)} difference(s)\n"
            + "\n".join(f"  {line}" for line in self.lines)
        )


def write_side_golden(golden_set: GoldenSet) -> tuple[Golden, Golden | None]:
    """The set's golden of the version its format writes today, and the golden its
    manifest says it was recorded over.

    A missing golden is a GoldenError, never a pass; a captured golden (its data
    came from a server, not the scenario) has nothing to replay: CaseSkipped.
    """
    version = golden_set.current_version
    goldens = {g.version: g for g in golden_set.goldens()}
    golden = goldens.get(version)
    if golden is None:
        have = ", ".join(str(v) for v in goldens) or "none"
        raise GoldenError(
            f"golden set {golden_set.name!r}: no golden {version} under {golden_set.root}/ "
            f"(have: {have}): the current writer has nothing to be compared with "
            f"(record it with `memfix record --version {version}`)"
        )
    if golden.captured:
        raise CaseSkipped(
            f"golden {golden.label} was captured from a server, not recorded: "
            "no scenario to replay (the write side is checked on recorded goldens)"
        )
    named = golden.manifest.scenario.previous_golden
    if named is None:
        return golden, None
    previous = goldens.get(Version.parse(named, where=str(golden.path / "manifest.json")))
    if previous is None:
        raise GoldenError(
            f"{golden.path / 'manifest.json'}: recorded over golden {named}, "
            f"which is not under {golden_set.root}/"
        )
    return golden, previous


def check_set_write_side(
    golden_set: GoldenSet, spec: ServerSpec | None = None, *, limit: int = 20
) -> WriteSideResult:
    """:func:`check_write_side` of the set's current version (see :func:`write_side_golden`)."""
    golden, previous = write_side_golden(golden_set)
    return check_write_side(golden_set.format, golden, previous, spec=spec, limit=limit)


def check_write_side(
    fmt: Format,
    golden: Golden,
    previous: Golden | None,
    *,
    spec: ServerSpec | None = None,
    limit: int = 20,
) -> WriteSideResult:
    """Run ``fmt``'s scenario of ``golden.version`` with the current code on a fresh
    server holding ``previous`` (as ``memfix record`` did) and compare with ``golden``.

    Raw records are compared where the format is byte-stable. A golden that
    fails its own checks, or a scenario that raises, is a GoldenError naming it.
    """
    check_golden(golden, fmt)
    if previous is not None:
        check_golden(previous, fmt)
    spec = spec or default_spec()
    raw = byte_stable(fmt)
    try:
        with scenario_server(fmt, golden.version, previous, spec) as server:
            lines, before = _compare(fmt, golden, server.client, raw=raw)
    except (ServerError, redis.RedisError) as exc:
        raise GoldenError(f"golden {golden.label}: write-side check on {spec.id}: {exc}") from None
    except GoldenError as exc:
        raise GoldenError(f"golden {golden.label}: write-side check: {exc}") from None
    if not before and not lines:
        lines.append(f"golden {golden.label} holds no session: the check compared nothing")
    records = sum(len(e.value) for e in golden.dump.keys if isinstance(e, ListEntry))
    return WriteSideResult(
        golden=golden.label,
        previous=previous.label if previous else None,
        server=spec.id,
        byte_stable=raw,
        keys=len(golden.dump.keys),
        records=records if raw else 0,
        sessions=len(before),
        lines=tuple(cap_lines(lines, limit)),
        writer=writer_of(fmt),
    )


def _compare(
    fmt: Format, golden: Golden, client: redis.Redis, *, raw: bool
) -> tuple[list[str], dict[str, list[Any]]]:
    """The differences of what ``client`` holds (just written) from ``golden``, and the
    golden's sessions as the current code reads them."""
    written = dump_keyspace(client)
    lines: list[str] = []
    try:
        now: dict[str, list[Any]] | None = build_view(fmt, client, written).sessions
    except FormatError as exc:  # first: the seed incident, in one line
        now = None
        lines.append(f"the current code cannot read what it just wrote: {exc}")
    lines += dump_differences(golden.dump, written, raw=raw)
    client.flushdb()
    restore_dump(golden.dump, client)
    try:
        before = build_view(fmt, client, golden.dump).sessions  # read by the same code
    except FormatError as exc:
        lines.append(f"the current code cannot read golden {golden.label}: {exc}")
        return lines, {}
    if now is not None:
        lines += session_differences(before, now, theirs="the golden")
    return lines, before


# -- comparing dumps ------------------------------------------------------------------


def dump_differences(
    expected: KeyspaceDump, actual: KeyspaceDump, *, raw: bool = True
) -> list[str]:
    """What differs between a golden's dump and a freshly written one, one line
    per key: gone, new, renamed, retyped, resized, TTL set or dropped and, with
    ``raw``, the first differing record (by index) or value."""
    exp = {key_text(e.key): e for e in expected.keys}
    act = {key_text(e.key): e for e in actual.keys}
    gone = sorted(exp.keys() - act.keys())
    new = sorted(act.keys() - exp.keys())
    out: list[str] = []
    renamed: dict[str, str] = {}
    unclaimed = list(new)
    for key in gone:  # a key whose data moved to another name: say so, once
        for other in unclaimed:
            if _same_data(exp[key], act[other]):
                renamed[key] = other
                unclaimed.remove(other)
                break
    layout_e, layout_a = layout_of(expected), layout_of(actual)
    for key in sorted(exp.keys() | act.keys()):
        if key in renamed:
            out.append(f"key {key!r} is now written as {renamed[key]!r}")
        elif key in gone:
            out.append(f"key {key!r} is no longer written (the golden has {layout_e[key]})")
        elif key in unclaimed:
            out.append(f"key {key!r} is new ({layout_a[key]})")
        elif key in exp:
            out += _entry_differences(key, exp[key], act[key], raw=raw)
    return out


def _same_data(a: Entry, b: Entry) -> bool:
    return type(a) is type(b) and a.value == b.value


def _entry_differences(key: str, a: Entry, b: Entry, *, raw: bool) -> list[str]:
    kind_a, kind_b = a.__struct_config__.tag, b.__struct_config__.tag
    if kind_a != kind_b:
        return [f"key {key!r} is now a {kind_b} where the golden has a {kind_a}"]
    out = []
    if a.ttl is not None and b.ttl is None:
        out.append(f"TTL no longer set on {key!r}")
    elif a.ttl is None and b.ttl is not None:
        out.append(f"TTL now set on {key!r} ({b.ttl} s), where the golden has none")
    elif raw and a.ttl != b.ttl:
        out.append(f"TTL of {key!r} is now {b.ttl} s where the golden has {a.ttl} s")
    if isinstance(a, ListEntry) and isinstance(b, ListEntry):
        out += _list_differences(key, a, b, raw=raw)
    elif raw and a.value != b.value:
        out.append(_other_difference(key, a, b))
    return out


def _list_differences(key: str, a: ListEntry, b: ListEntry, *, raw: bool) -> list[str]:
    old, new = [value_bytes(v) for v in a.value], [value_bytes(v) for v in b.value]
    size = (
        f"key {key!r}: {len(new)} records where the golden has {len(old)}"
        if len(old) != len(new)
        else ""
    )
    if not raw:
        return [size] if size else []
    differing = [i for i, (x, y) in enumerate(zip(old, new, strict=False)) if x != y]
    if not differing:
        return [size] if size else []
    i = differing[0]
    line = f"key {key!r} index {i}: {describe_record_change(old[i], new[i])}"
    if len(differing) > 1:
        line += f" (and {len(differing) - 1} more records of this key)"
    if size:
        line += f"; {len(new)} records where the golden has {len(old)}"
    return [line]


def _other_difference(key: str, a: Entry, b: Entry) -> str:
    if isinstance(a, StringEntry) and isinstance(b, StringEntry):
        return f"key {key!r}: {describe_record_change(value_bytes(a.value), value_bytes(b.value))}"
    if isinstance(a, (SetEntry, HashEntry, ZSetEntry)) and isinstance(
        b, (SetEntry, HashEntry, ZSetEntry)
    ):
        left = {_member(m) for m in a.value}
        right = {_member(m) for m in b.value}
        missing, extra = sorted(left - right), sorted(right - left)
        parts = []
        if missing:
            parts.append(f"{len(missing)} member(s) gone, e.g. {missing[0]!r}")
        if extra:
            parts.append(f"{len(extra)} member(s) new, e.g. {extra[0]!r}")
        return f"key {key!r}: " + ("; ".join(parts) or "members in another order")
    return f"key {key!r} holds different data"


def _member(m: Any) -> str:
    if isinstance(m, tuple):  # a hash field and value, or a sorted-set member and score
        return "=".join(key_text(x) for x in m)
    return key_text(m)


def describe_record_change(old: bytes, new: bytes) -> str:
    """``record now starts b'\\x80\\x04' (pickle?) where the golden has b'\\x99\\xa31.4'
    (msgpack)``, or where the bytes first differ."""
    was, now = guess_encoding(old), guess_encoding(new)
    if was != now:
        return (
            f"record now starts {new[: _magic(new, now)]!r} ({now}?) "
            f"where the golden has {old[: _magic(old, was)]!r} ({was})"
        )
    at = first_mismatch(old, new)
    start = max(0, at - 8)
    return (
        f"{now} record differs from byte {at}: now {new[start : at + 12]!r} where the golden "
        f"has {old[start : at + 12]!r}"
        + (f" ({len(new)} bytes where the golden has {len(old)})" if len(old) != len(new) else "")
    )


def guess_encoding(raw: bytes) -> str:
    """What a stored value's leading bytes look like (for messages, not dispatch)."""
    first = raw[:1]
    if not first:
        return "empty"
    b = first[0]
    if b == 0x80 and raw[1:2] and 2 <= raw[1] <= 5 and raw.endswith(b"."):
        return "pickle"
    if b == 0x78 and raw[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        return "zlib"
    if raw.startswith(b"\x1f\x8b"):
        return "gzip"
    if 0x90 <= b <= 0x9F or b in (0xDC, 0xDD):
        return "msgpack"
    if 0x80 <= b <= 0x8F or b in (0xDE, 0xDF):
        return "msgpack map"
    if raw.lstrip()[:1] in (b"{", b"["):
        return "JSON"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    return "text"


def _magic(raw: bytes, kind: str) -> int:
    """How many leading bytes identify ``kind`` (a msgpack tag string included)."""
    if kind in ("pickle", "zlib", "gzip"):
        return 2
    if kind == "msgpack" and len(raw) > 1 and 0xA0 <= raw[1] <= 0xBF:
        return 2 + (raw[1] & 0x1F)
    if kind == "JSON":
        return 8
    return 4
