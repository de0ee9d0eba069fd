"""``verify``: prove committed goldens still load through the current code.

For each golden: the static checks (files, manifest claims, keys claimed);
then, per server, the golden case in both restore modes (``dump.json``
replayed, ``dump.rdb`` loaded) must reproduce ``dump.json``, and read through
the format's current code into the same view from both. Zero sessions is a
failure, never an "ok".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from memfix.errors import GoldenError
from memfix.formats import Format
from memfix.goldens.case import (
    CaseSkipped,
    GoldenCase,
    check_golden,
    restored_case,
)
from memfix.goldens.golden import Golden
from memfix.goldens.restore import RestoreMode, ServerPool
from memfix.goldens.view import GoldenView
from memfix.servers import ServerSpec

__all__ = ["VerifyRow", "verify_golden", "verify_goldens"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class VerifyRow:
    """One line of a verify report."""

    golden: str
    server: str
    mode: str  # "files", "json" or "rdb"
    status: str  # "ok", "FAIL" or "skipped"
    detail: str
    seconds: float
    sessions: int = 0
    messages: int = 0

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


def verify_goldens(
    goldens: Iterable[Golden],
    specs: Sequence[ServerSpec],
    *,
    fmt: Format | None = None,
    progress: Progress | None = None,
    pool: ServerPool | None = None,
) -> list[VerifyRow]:
    return [
        row
        for g in goldens
        for row in verify_golden(g, specs, fmt=fmt, progress=progress, pool=pool)
    ]


def verify_golden(
    golden: Golden,
    specs: Sequence[ServerSpec],
    *,
    fmt: Format | None = None,
    progress: Progress | None = None,
    pool: ServerPool | None = None,
) -> list[VerifyRow]:
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
                rows.append(
                    VerifyRow(
                        label,
                        spec.id,
                        mode.value,
                        "skipped",
                        f"{exc}; verified through dump.json",
                        0.0,
                    )
                )
                continue
            except GoldenError as exc:
                rows.append(VerifyRow(label, spec.id, mode.value, "FAIL", str(exc), _since(t0)))
                continue
            views[mode] = view
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
    return rows


def _since(started: float) -> float:
    return time.perf_counter() - started
