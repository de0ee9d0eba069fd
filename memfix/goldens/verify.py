"""``verify``: prove a committed golden still loads through the current code.

For each golden and server: checksums; ``dump.json`` replayed into one fresh
server must reproduce the dump exactly; ``dump.rdb`` loaded by another fresh
server must hold the same data (when the server can load that RDB version);
and every session must decode through the current store code, identically
from both restores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis import RedisError

from memfix.errors import GoldenError, SchemaError
from memfix.goldens.dump import dump_keyspace
from memfix.goldens.golden import Golden
from memfix.goldens.restore import RestoreMode, first_difference, restored_server
from memfix.goldens.view import golden_view
from memfix.servers import ServerError, ServerSpec

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
    goldens: Iterable[Golden], specs: Sequence[ServerSpec], *, progress: Progress | None = None
) -> list[VerifyRow]:
    return [row for g in goldens for row in verify_golden(g, specs, progress=progress)]


def verify_golden(
    golden: Golden, specs: Sequence[ServerSpec], *, progress: Progress | None = None
) -> list[VerifyRow]:
    say = progress or (lambda _: None)
    started = time.perf_counter()
    say(f"{golden.version}: checking files")
    try:
        golden.check()
        golden.dump  # noqa: B018 - parse and validate now, once
        header = golden.rdb_header()
    except GoldenError as exc:
        return [VerifyRow(golden.version, "-", "files", "FAIL", str(exc), _since(started))]
    rows = [VerifyRow(golden.version, "-", "files", "ok", "checksums match", _since(started))]
    for spec in specs:
        say(f"{golden.version}: json restore on {spec.id}")
        json_row, json_view = _check(golden, spec, RestoreMode.JSON)
        rows.append(json_row)
        if not spec.can_load(header):
            rows.append(
                VerifyRow(
                    golden.version,
                    spec.id,
                    "rdb",
                    "skipped",
                    f"dump.rdb is {header}, newer than {spec.id} loads; verified through dump.json",
                    0.0,
                )
            )
            continue
        say(f"{golden.version}: rdb restore on {spec.id}")
        rdb_row, rdb_view = _check(golden, spec, RestoreMode.RDB)
        if rdb_row.status == "ok" and json_view is not None and rdb_view != json_view:
            rdb_row = _fail(rdb_row, "decoded sessions differ between the rdb and json restores")
        rows.append(rdb_row)
    return rows


def _check(
    golden: Golden, spec: ServerSpec, mode: RestoreMode
) -> tuple[VerifyRow, dict[str, Any] | None]:
    started = time.perf_counter()
    row = VerifyRow(golden.version, spec.id, mode.value, "ok", "", 0.0)
    try:
        with restored_server(golden, spec, mode) as server:
            actual = dump_keyspace(server.client)
            diff = first_difference(golden.dump.without_ttl_values(), actual.without_ttl_values())
            if diff is not None:
                return _fail(
                    row, f"{mode.value} restore differs from dump.json: {diff}", started
                ), None
            view = golden_view(server.client, dump=actual)
    except (SchemaError, GoldenError, ServerError, RedisError) as exc:
        return _fail(row, str(exc), started), None
    sessions = view["sessions"]
    return (
        VerifyRow(
            golden.version,
            spec.id,
            mode.value,
            "ok",
            "restored and decoded through the current code",
            _since(started),
            sessions=len(sessions),
            messages=sum(len(m) for m in sessions.values()),
        ),
        view,
    )


def _fail(row: VerifyRow, detail: str, started: float | None = None) -> VerifyRow:
    seconds = _since(started) if started is not None else row.seconds
    return VerifyRow(row.golden, row.server, row.mode, "FAIL", detail, seconds)


def _since(started: float) -> float:
    return time.perf_counter() - started
