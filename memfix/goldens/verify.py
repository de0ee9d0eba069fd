"""``verify``: prove committed goldens still load, mean, and are written as before.

For each golden: the static checks (files, manifest claims, keys claimed);
then, per server, the golden case in both restore modes (``dump.json``
replayed, ``dump.rdb`` loaded) must reproduce ``dump.json``, and read through
the format's current code into the same view from both. Zero sessions is a
failure, never an "ok". Given its golden set, the view must also equal the
committed snapshot pytest compares it with (:mod:`memfix.goldens.meaning`; a
missing snapshot fails), and :func:`verify_write_side` replays the set's
current version with the current writer (:mod:`memfix.goldens.writeside`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from memfix.errors import GoldenError
from memfix.formats import Format
from memfix.goldens.case import (
    CaseSkipped,
    ClusterUnreadable,
    GoldenCase,
    check_golden,
    restored_case,
)
from memfix.goldens.golden import Golden
from memfix.goldens.meaning import compare_with_snapshot
from memfix.goldens.restore import RestoreMode, ServerPool
from memfix.goldens.sets import GoldenSet
from memfix.goldens.view import GoldenView
from memfix.goldens.writeside import check_set_write_side
from memfix.servers import AnySpec, ServerSpec, standalone_of

__all__ = ["VerifyRow", "verify_golden", "verify_goldens", "verify_set", "verify_write_side"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class VerifyRow:
    """One line of a verify report."""

    golden: str
    server: str
    mode: str  # "files", "json", "rdb", "meaning" or "write"
    status: str  # "ok", "FAIL" or "skipped"
    detail: str
    seconds: float
    sessions: int = 0
    messages: int = 0
    lines: tuple[str, ...] = field(default=(), compare=False)  # every difference, for a report

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


def verify_set(
    golden_set: GoldenSet,
    goldens: Sequence[Golden],
    specs: Sequence[AnySpec],
    *,
    progress: Progress | None = None,
    pool: ServerPool | None = None,
) -> list[VerifyRow]:
    """``goldens`` of the set (load, meaning), then the write side of its current version
    when that golden is among them (or none is named), on the first server (a
    cluster's node kind: the write side needs one server)."""
    rows = verify_goldens(goldens, specs, golden_set=golden_set, progress=progress, pool=pool)
    current = golden_set.current_version
    selected = {g.version: g for g in goldens}
    if len(selected) < len(golden_set.goldens()) and current not in selected:
        return rows  # versions were named, not the current one
    golden = selected.get(current)
    writer = standalone_of(specs[0])
    broken = golden is not None and any(
        r.failed and r.mode == "files" and r.golden == golden.label for r in rows
    )
    if golden is not None and broken:
        rows.append(
            VerifyRow(
                golden.label,
                writer.id,
                "write",
                "skipped",
                "the golden fails its own checks (its files row): nothing to compare with",
                0.0,
            )
        )
        return rows
    (progress or (lambda _: None))(f"{golden_set.name}: write side of {current} on {writer.id}")
    rows.append(verify_write_side(golden_set, writer))
    return rows


def verify_goldens(
    goldens: Iterable[Golden],
    specs: Sequence[AnySpec],
    *,
    fmt: Format | None = None,
    golden_set: GoldenSet | None = None,
    progress: Progress | None = None,
    pool: ServerPool | None = None,
) -> list[VerifyRow]:
    return [
        row
        for g in goldens
        for row in verify_golden(
            g, specs, fmt=fmt, golden_set=golden_set, progress=progress, pool=pool
        )
    ]


def verify_golden(
    golden: Golden,
    specs: Sequence[AnySpec],
    *,
    fmt: Format | None = None,
    golden_set: GoldenSet | None = None,
    progress: Progress | None = None,
    pool: ServerPool | None = None,
) -> list[VerifyRow]:
    """The rows of one golden; with ``golden_set`` (whose format it is read with)
    one more: its meaning against the set's committed snapshot."""
    if golden_set is not None:
        fmt = golden_set.format
    if fmt is None:
        from memfix.formats import resolve_format

        fmt = resolve_format("memfix")
    say = progress or (lambda _: None)
    label = golden.label
    started = time.perf_counter()
    say(f"{label}: checking files")
    try:
        check_golden(golden, fmt)
    except GoldenError as exc:
        return [VerifyRow(label, "-", "files", "FAIL", str(exc), _since(started))]
    rows = [
        VerifyRow(label, "-", "files", "ok", "checksums and manifest claims match", _since(started))
    ]
    seen: list[GoldenView] = []
    for spec in specs:
        views: dict[RestoreMode, GoldenView] = {}
        for mode in (RestoreMode.JSON, RestoreMode.RDB):
            say(f"{label}: {mode.value} restore on {spec.id}")
            case = GoldenCase(golden, mode, spec, fmt)
            t0 = time.perf_counter()
            try:
                with restored_case(case, pool=pool) as restored:
                    view = restored.view()
            except CaseSkipped as exc:
                why = str(exc)
                if not isinstance(exc, ClusterUnreadable):
                    why += "; verified through dump.json"
                rows.append(VerifyRow(label, spec.id, mode.value, "skipped", why, 0.0))
                continue
            except GoldenError as exc:
                rows.append(VerifyRow(label, spec.id, mode.value, "FAIL", str(exc), _since(t0)))
                continue
            views[mode] = view
            seen.append(view)
            detail = "restored and read through the current code"
            status = "ok"
            if (
                mode is RestoreMode.RDB
                and RestoreMode.JSON in views
                and views[RestoreMode.JSON] != view
            ):
                status, detail = "FAIL", "decoded sessions differ between the rdb and json restores"
            rows.append(
                VerifyRow(
                    label,
                    spec.id,
                    mode.value,
                    status,
                    detail,
                    _since(t0),
                    sessions=len(view.sessions),
                    messages=view.messages,
                )
            )
    if golden_set is not None:
        rows.append(_meaning_row(golden, golden_set, seen))
    return rows


def _meaning_row(golden: Golden, golden_set: GoldenSet, views: list[GoldenView]) -> VerifyRow:
    """Every view read is compared with the one committed snapshot of ``golden``."""
    label = golden.label
    started = time.perf_counter()
    if not views:
        return VerifyRow(
            label,
            "-",
            "meaning",
            "skipped",
            "no view to compare: every restore failed or was skipped",
            0.0,
        )
    snapshot = golden_set.snapshot_file(golden.version)
    try:
        results = [compare_with_snapshot(v.to_builtins(), snapshot, golden=label) for v in views]
    except GoldenError as exc:
        return VerifyRow(label, "-", "meaning", "FAIL", str(exc), _since(started))
    failed = next((r for r in results if not r.ok), None)
    if failed is None:
        detail = f"every session means what {_shown(snapshot)} says"
        return VerifyRow(
            label, "-", "meaning", "ok", detail, _since(started), sessions=results[0].sessions
        )
    changed = [line for line in failed.lines if line.startswith(("session ", "key "))]
    detail = f"{len(changed)} change(s) against {_shown(snapshot)}: " + "; ".join(
        line.split(":")[0] if line.startswith("session ") else line for line in changed[:5]
    )
    return VerifyRow(label, "-", "meaning", "FAIL", detail, _since(started), lines=failed.lines)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def verify_write_side(golden_set: GoldenSet, spec: ServerSpec) -> VerifyRow:
    """One row: the current writer replays the set's current version as its golden holds it."""
    started = time.perf_counter()
    label = " ".join(
        [*([golden_set.name] if golden_set.id_prefix else []), str(golden_set.current_version)]
    )
    try:
        result = check_set_write_side(golden_set, spec)
    except CaseSkipped as exc:
        return VerifyRow(label, spec.id, "write", "skipped", str(exc), 0.0)
    except GoldenError as exc:
        return VerifyRow(label, spec.id, "write", "FAIL", str(exc), _since(started))
    return VerifyRow(
        result.golden,
        spec.id,
        "write",
        "ok" if result.ok else "FAIL",
        result.summary(),
        _since(started),
        sessions=result.sessions,
        lines=result.lines,
    )


def _since(started: float) -> float:
    return time.perf_counter() - started
