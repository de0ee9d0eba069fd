"""``diff``: what changed between two goldens, in the keyspace and as decoded today."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memfix.formats import Format
from memfix.goldens.case import GoldenCase, restored_case
from memfix.goldens.dump import key_text
from memfix.goldens.golden import Golden
from memfix.goldens.restore import RestoreMode
from memfix.goldens.view import layout_of
from memfix.servers import ServerSpec

__all__ = ["GoldenDiff", "diff_goldens"]


@dataclass
class GoldenDiff:
    old: str
    new: str
    added_keys: dict[str, str] = field(default_factory=dict)  # key -> layout
    removed_keys: dict[str, str] = field(default_factory=dict)
    changed_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    records_by_version: dict[str, tuple[int, int]] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # session -> one-line summary

    def lines(self) -> list[str]:
        """A readable report, one change per line."""
        out = [
            f"golden {self.old} -> {self.new}",
            f"keyspace: +{len(self.added_keys)} added, -{len(self.removed_keys)} removed, "
            f"~{len(self.changed_keys)} changed",
        ]
        out += [f"  + {k}  {v}" for k, v in self.added_keys.items()]
        out += [f"  - {k}  {v}" for k, v in self.removed_keys.items()]
        out += [f"  ~ {k}  {a} -> {b}" for k, (a, b) in self.changed_keys.items()]
        out.append("records by schema version:")
        out += [f"  {v}: {a} -> {b}" for v, (a, b) in self.records_by_version.items()]
        out.append("sessions, decoded by the current code:")
        out += [f"  {s}: {summary}" for s, summary in self.sessions.items()] or ["  (no change)"]
        return out


def diff_goldens(
    old: Golden, new: Golden, spec: ServerSpec, fmt: Format | None = None
) -> GoldenDiff:
    """Compare two goldens: raw keyspace from their dumps, sessions via their golden cases
    (json restore on ``spec``), so a golden that fails its checks is reported, not diffed."""
    diff = GoldenDiff(str(old.version), str(new.version))
    a, b = layout_of(old.dump), layout_of(new.dump)
    a_raw = {key_text(e.key): e for e in old.dump.keys}
    b_raw = {key_text(e.key): e for e in new.dump.keys}
    for key in sorted(a.keys() | b.keys()):
        if key not in a:
            diff.added_keys[key] = b[key]
        elif key not in b:
            diff.removed_keys[key] = a[key]
        elif a_raw[key] != b_raw[key]:
            diff.changed_keys[key] = (a[key], b[key])
    versions = sorted(
        old.manifest.counts.records_by_version.keys()
        | new.manifest.counts.records_by_version.keys()
    )
    diff.records_by_version = {
        v: (
            old.manifest.counts.records_by_version.get(v, 0),
            new.manifest.counts.records_by_version.get(v, 0),
        )
        for v in versions
    }
    old_sessions = _sessions(old, spec, fmt)
    new_sessions = _sessions(new, spec, fmt)
    for sid in sorted(old_sessions.keys() | new_sessions.keys()):
        before, after = old_sessions.get(sid), new_sessions.get(sid)
        if before == after:
            continue
        if before is None:
            diff.sessions[sid] = f"new, {len(after or [])} messages"
        elif after is None:
            diff.sessions[sid] = f"gone (had {len(before)} messages)"
        else:
            common = 0
            while common < min(len(before), len(after)) and before[common] == after[common]:
                common += 1
            diff.sessions[sid] = f"{len(before)} -> {len(after)} messages, first {common} identical"
    return diff


def _sessions(golden: Golden, spec: ServerSpec, fmt: Format | None) -> dict[str, list[Any]]:
    if fmt is None:
        from memfix.formats import resolve_format

        fmt = resolve_format("memfix")
    case = GoldenCase(golden, RestoreMode.JSON, spec, fmt)
    with restored_case(case) as restored:
        return restored.view().sessions
