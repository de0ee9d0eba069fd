"""Meaning: does a golden still *mean* what its committed snapshot says?

A check that only asks whether records decode passes a change of what old
data means (a field silently dropped, a timestamp shifted). Here a golden's
view is compared with the snapshot file pytest compares it with (one file, one
truth: :meth:`memfix.goldens.GoldenSet.snapshot_file`, written by the plugin as
:func:`memfix.goldens.view.encode_view` text), and each changed session is
reported on one line with the first message index and field that differ.

:func:`session_differences` is also what the write-side check uses to say
how freshly written data reads differently from its golden.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memfix.errors import GoldenError
from memfix.goldens.case import GoldenCase, restored_case
from memfix.goldens.golden import Golden
from memfix.goldens.jsonfile import MAX_JSON_BYTES, read_json
from memfix.goldens.restore import RestoreMode
from memfix.goldens.sets import GoldenSet
from memfix.servers import ServerSpec, default_spec

__all__ = [
    "MeaningResult",
    "cap_lines",
    "check_meaning",
    "compare_with_snapshot",
    "first_mismatch",
    "keyspace_differences",
    "read_snapshot",
    "session_differences",
    "view_differences",
]

_SHOWN = 60  # characters of a differing value shown in a line


@dataclass(frozen=True)
class MeaningResult:
    """The sessions whose meaning changed, one line each (empty: unchanged)."""

    golden: str
    snapshot: Path
    sessions: int  # sessions compared (never zero for a pass: see compare_with_snapshot)
    lines: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.lines

    def summary(self) -> str:
        """One line for a verify report."""
        if self.ok:
            return f"{self.sessions} sessions mean what {self.snapshot.name} says"
        return f"{len(self.lines)} change(s) against {self.snapshot.name}: " + "; ".join(
            self.lines[:3]
        )


def read_snapshot(path: Path) -> dict[str, Any]:
    """A committed snapshot, or a one-line GoldenError naming the file.

    A missing snapshot is an error, never a pass: nothing to compare with
    means nothing was checked.
    """
    if not path.exists() and not path.is_symlink():
        raise GoldenError(
            f"{path}: no snapshot to compare with (run pytest with --snapshot-update "
            "once, review and commit the file)"
        )
    data = read_json(path, "snapshot", MAX_JSON_BYTES)
    if not isinstance(data, dict) or not isinstance(data.get("sessions"), dict):
        raise GoldenError(f"{path}: not a golden view snapshot (no 'sessions' object)")
    return data


def compare_with_snapshot(
    view: Mapping[str, Any], snapshot: Path, *, golden: str = "", limit: int = 20
) -> MeaningResult:
    """Compare a golden's view (:meth:`GoldenView.to_builtins`) with a snapshot file.

    Raises GoldenError when the snapshot is missing or holds no session at all
    (a comparison over zero sessions proves nothing).
    """
    expected = read_snapshot(snapshot)
    if not expected["sessions"]:
        raise GoldenError(f"{snapshot}: the snapshot holds no session; nothing to compare")
    lines = view_differences(expected, view, limit=limit, theirs="the snapshot")
    return MeaningResult(
        golden=golden or snapshot.stem,
        snapshot=snapshot,
        sessions=len(expected["sessions"]),
        lines=tuple(lines),
    )


def check_meaning(
    golden_set: GoldenSet,
    golden: Golden,
    *,
    spec: ServerSpec | None = None,
    mode: RestoreMode = RestoreMode.JSON,
    limit: int = 20,
) -> MeaningResult:
    """``golden``'s case restored and viewed through the current code, compared with its
    snapshot (``memfix verify`` already holds a view: it calls :func:`compare_with_snapshot`)."""
    case = GoldenCase(golden, mode, spec or default_spec(), golden_set.format, golden_set.id_prefix)
    with restored_case(case) as restored:
        view = restored.view().to_builtins()
    return compare_with_snapshot(
        view, golden_set.snapshot_file(golden.version), golden=golden.label, limit=limit
    )


def view_differences(
    expected: Mapping[str, Any],
    actual: Mapping[str, Any],
    *,
    limit: int = 20,
    theirs: str = "the golden",
) -> list[str]:
    """Keyspace and session differences of two views, one line each, at most ``limit``
    (then one more line saying how many were left out)."""
    lines = keyspace_differences(
        expected.get("keyspace", {}), actual.get("keyspace", {}), theirs=theirs
    )
    lines += session_differences(
        expected.get("sessions", {}), actual.get("sessions", {}), theirs=theirs
    )
    return cap_lines(lines, limit)


def keyspace_differences(
    expected: Mapping[str, str], actual: Mapping[str, str], *, theirs: str = "the golden"
) -> list[str]:
    """Keys added, gone, or of another type/size/expiry, one line each."""
    out = []
    for key in sorted(expected.keys() | actual.keys()):
        a, b = expected.get(key), actual.get(key)
        if a == b:
            continue
        if b is None:
            out.append(f"key {key!r} is gone ({theirs} has {a})")
        elif a is None:
            out.append(f"key {key!r} is new ({b})")
        else:
            out.append(f"key {key!r} is now {b} where {theirs} has {a}")
    return out


def session_differences(
    expected: Mapping[str, Sequence[Any]],
    actual: Mapping[str, Sequence[Any]],
    *,
    theirs: str = "the golden",
) -> list[str]:
    """One line per changed session: the first message index and field that differ."""
    out = []
    for sid in sorted(expected.keys() | actual.keys()):
        before, after = expected.get(sid), actual.get(sid)
        if before == after:
            continue
        if after is None:
            out.append(f"session {sid!r} is gone ({theirs} has {len(before or [])} messages)")
            continue
        if before is None:
            out.append(f"session {sid!r} is new ({len(after)} messages)")
            continue
        out.append(f"session {sid!r}: {_first_message_difference(before, after, theirs)}")
    return out


def _first_message_difference(before: Sequence[Any], after: Sequence[Any], theirs: str) -> str:
    i = first_mismatch(before, after)
    if i < min(len(before), len(after)):
        return f"message {i} {_field_difference(before[i], after[i], theirs)}"
    return f"{len(after)} messages where {theirs} has {len(before)}"


def _field_difference(a: Any, b: Any, theirs: str) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for field in sorted(a.keys() | b.keys()):
            if field not in b:
                return f"field {field!r} is gone ({theirs} has {_show(a[field])})"
            if field not in a:
                return f"field {field!r} is new ({_show(b[field])})"
            if a[field] != b[field]:
                return f"field {field!r} {_value_difference(a[field], b[field], theirs)}"
    return _value_difference(a, b, theirs)


def _value_difference(a: Any, b: Any, theirs: str) -> str:
    if isinstance(a, str) and isinstance(b, str):
        at = first_mismatch(a, b)
        if at == min(len(a), len(b)):
            return f"is now {len(b)} chars where {theirs} has {len(a)} (same up to char {at})"
        start = max(0, at - 10)
        now, was = b[start : start + _SHOWN // 2], a[start : start + _SHOWN // 2]
        note = ""
        if unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b):
            now, was = ascii(now), ascii(was)  # combining marks render the same: escape them
            note = " (the same text in another unicode normalization form)"
        else:
            now, was = repr(now), repr(was)
        return f"differs at char {at}: now {now} where {theirs} has {was}{note}"
    return f"is now {_show(b)} where {theirs} has {_show(a)}"


def _show(value: Any) -> str:
    text = repr(value)
    if isinstance(value, str) and len(value) > _SHOWN:
        text = repr(value[:_SHOWN]) + f"... ({len(value)} chars)"
    elif len(text) > _SHOWN + 20:
        text = text[: _SHOWN + 20] + "..."
    return text


def first_mismatch(a: Sequence[Any], b: Sequence[Any]) -> int:
    """The first index where two sequences (str, bytes, lists) differ; the shorter
    one's length when one is a prefix of the other."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def cap_lines(lines: list[str], limit: int) -> list[str]:
    """At most ``limit`` lines, then one saying how many were left out."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"... and {len(lines) - limit} more difference(s)"]
