"""Goldens and servers: restore throughput, ``verify`` wall time, fresh server starts.

The golden-run speed and server start are other lanes' targets; these tables
keep measuring them with the same harness.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.corpus import corpus
from benchmarks.harness import Stat
from memfix import RedisMemoryStore
from memfix.servers import ServerError, ServerSpec, discover

HISTORY = 100
REPO = Path(__file__).resolve().parent.parent


def time_server_starts(specs: list[ServerSpec], repeat: int) -> list[dict[str, Any]]:
    """Wall time from ``spec.start()`` to a server that answers PING."""
    rows: list[dict[str, Any]] = []
    for spec in specs:
        times: list[float] = []
        try:
            for _ in range(repeat):
                t0 = time.perf_counter_ns()
                with spec.start() as srv:
                    srv.client.ping()
                    times.append((time.perf_counter_ns() - t0) / 1e6)
        except Exception as exc:  # a broken spec is reported, not fatal
            rows.append({"server": spec.id, "backend": spec.backend, "error": str(exc)})
            continue
        rows.append(
            {"server": spec.id, "backend": spec.backend, "start_ms": asdict(Stat.of(times))}
        )
    return rows


#: memfix's own golden matrix: every golden x both restores x every local server
#: (the cluster cases, which form a cluster first, are not part of it).
MATRIX_ARGS = [
    "tests/test_goldens.py",
    "--memfix-set",
    "memfix",
    "-k",
    "test_golden_loads_unchanged and not cluster",
    "-p",
    "no:cacheprovider",
    "-q",
]


def time_golden_matrix(repeat: int, notes: list[str]) -> list[dict[str, Any]]:
    """Wall time of ``pytest`` over the golden matrix, in one process and with ``-n 2``,
    from the interpreter's start to its exit, as a developer runs it.

    Bytecode is cached as on a normal machine (``PYTHONDONTWRITEBYTECODE`` removed:
    with it set, every run compiles every module again, about 1 s more).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    rows: list[dict[str, Any]] = []
    for workers in ([], ["-n", "2"]):
        command = [sys.executable, "-m", "pytest", *MATRIX_ARGS, *workers]
        subprocess.run(command, cwd=REPO, env=env, capture_output=True, check=False)  # warm-up
        times: list[float] = []
        cases = ""
        for _ in range(repeat):
            t0 = time.perf_counter()
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if done.returncode != 0:
                notes.append(f"golden matrix run failed: {done.stdout.strip()[-200:]}")
                return rows
            cases = done.stdout.strip().splitlines()[-1]
        rows.append(
            {
                "command": shlex.join(["pytest", *MATRIX_ARGS[:5], *workers]),
                "workers": 2 if workers else 1,
                "seconds": asdict(Stat.of(times)),
                "pytest_says": cases,
            }
        )
    return rows


def all_specs(notes: list[str], *, docker: bool) -> list[ServerSpec]:
    """Every local server, plus the Docker images when an engine answers."""
    try:
        specs = discover(docker=None if docker else False)
    except ServerError as exc:
        notes.append(f"server discovery: {exc}")
        return []
    if docker and not any(s.backend == "docker" for s in specs):
        from memfix.servers import docker as docker_backend

        reason = docker_backend.engine_unavailable_reason() or "no memfix images"
        notes.append(f"Docker containers not measured: {reason}")
    return specs


def verify_committed(specs: list[ServerSpec], notes: list[str]) -> list[dict[str, Any]]:
    """``verify`` wall time of each committed golden (``golden/``) on each server."""
    try:
        from memfix.goldens import find_goldens, verify_golden
    except ImportError as exc:
        notes.append(f"committed goldens not verified: {exc}")
        return []
    root = REPO / "golden"
    rows: list[dict[str, Any]] = []
    for golden in find_goldens(root):
        for spec in specs:
            t0 = time.perf_counter()
            try:
                result = verify_golden(golden, [spec])
            except Exception as exc:  # reported, not fatal: this is a benchmark
                rows.append({"golden": golden.version, "server": spec.id, "error": str(exc)})
                continue
            rows.append(
                {
                    "golden": golden.version,
                    "server": spec.id,
                    "seconds": round(time.perf_counter() - t0, 3),
                    "status": "FAIL" if any(r.failed for r in result) else "ok",
                    "modes": {r.mode: round(r.seconds, 3) for r in result if r.mode != "files"},
                    "messages": max((r.messages for r in result), default=0),
                }
            )
    return rows


def bench_goldens(
    spec: ServerSpec, sizes: list[int], repeat: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Restore throughput and ``verify`` wall time of synthetic goldens of growing size.

    Each golden holds ``n`` messages in sessions of 100 (written by memfix on a fresh
    server, dumped exactly as ``memfix record`` does); then, ``repeat`` times:
    restore ``dump.json`` into a fresh server (parse + replay), start a fresh server
    on ``dump.rdb``, and run ``verify_golden`` on ``spec``.
    """
    try:
        from memfix.goldens import Golden, read_dump, restore_dump, verify_golden
    except ImportError as exc:
        return {"skipped": f"not yet measured (memfix.goldens unavailable: {exc})"}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="memfix-bench-goldens-") as tmp:
        for n in sizes:
            log(f"  goldens: building a {n:,}-message golden")
            golden = _synthetic_golden(Path(tmp) / str(n), spec, n)
            json_rates, json_replay, rdb_rates, verify_json, verify_rdb, verify_total = (
                [],
                [],
                [],
                [],
                [],
                [],
            )
            passes = repeat if n <= 100_000 else 1  # a 1M pass takes about a minute
            for i in range(passes):
                log(f"  goldens: {n:,} messages, pass {i + 1}/{passes}")
                t0 = time.perf_counter()
                dump = read_dump(golden.json_path)
                t1 = time.perf_counter()
                with spec.start() as srv:
                    t2 = time.perf_counter()
                    restore_dump(dump, srv.client)
                    t3 = time.perf_counter()
                del dump
                json_rates.append(n / ((t1 - t0) + (t3 - t2)))
                json_replay.append(n / (t3 - t2))
                t0 = time.perf_counter()
                with spec.start(dump=golden.rdb_path) as srv:
                    srv.client.ping()
                    rdb_rates.append(n / (time.perf_counter() - t0))
                fresh = Golden.open(golden.path)  # no cached parse: verify reads it all
                t0 = time.perf_counter()
                result = verify_golden(fresh, [spec])
                verify_total.append(time.perf_counter() - t0)
                bad = [r for r in result if r.status == "FAIL"]
                if bad:
                    return {"skipped": f"verify failed on the synthetic golden: {bad[0].detail}"}
                verify_json += [r.seconds for r in result if r.mode == "json"]
                verify_rdb += [r.seconds for r in result if r.mode == "rdb"]
            rows.append(
                {
                    "messages": n,
                    "json_mb": golden.json_path.stat().st_size / 1e6,
                    "rdb_mb": golden.rdb_path.stat().st_size / 1e6,
                    "restore_json": asdict(Stat.of(json_rates)),
                    "restore_json_replay_only": asdict(Stat.of(json_replay)),
                    "restore_rdb": asdict(Stat.of(rdb_rates)),
                    "verify_s": asdict(Stat.of(verify_total)),
                    "verify_json_s": asdict(Stat.of(verify_json)),
                    "verify_rdb_s": asdict(Stat.of(verify_rdb or [float("nan")])),
                }
            )
            shutil.rmtree(golden.path, ignore_errors=True)
    return {"server": spec.id, "repeat": f"{repeat} (1 above 100k)", "sizes": rows}


def _synthetic_golden(path: Path, spec: ServerSpec, n: int) -> Any:
    """A golden directory of ``n`` messages, written by the same code as ``memfix record``."""
    from memfix import schemas
    from memfix.goldens import write_golden
    from memfix.goldens.manifest import ScenarioInfo

    msgs = corpus(min(n, 1000))
    with spec.start() as srv:
        store = RedisMemoryStore(srv.client)
        pipe = srv.client.pipeline(transaction=False)
        piped = RedisMemoryStore(pipe)  # a Pipeline is a Redis: appends are queued
        for s in range(0, n, HISTORY):
            piped.append_messages(f"bench-{s // HISTORY:06d}", msgs[: min(HISTORY, n - s)])
            if len(pipe) >= 100:
                pipe.execute()
        pipe.execute()
        assert sum(store.count(x) for x in store.sessions()) == n
        scenario = ScenarioInfo(
            name="bench",
            seed="bench",
            previous_golden=None,
            description=f"{n} synthetic messages (benchmarks.restore)",
        )
        # A golden lives in a directory named after its schema version.
        return write_golden(srv, path / schemas.CURRENT_VERSION, scenario=scenario)
