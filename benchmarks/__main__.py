"""``python -m benchmarks``: run the workloads and print (and save) the tables.

python -m benchmarks                 # default run (~3 min): pinned, 200 B / 4 KB / 64 KB
python -m benchmarks --quick         # a short run (< 1 min)
python -m benchmarks --regime both   # pinned and unpinned tables, side by side
python -m benchmarks --long-lists    # reads of 1k..1M-message lists on 6.2 and the newest
python -m benchmarks --goldens       # restore / verify / server-start tables
python -m benchmarks --with-peers    # pip-install langchain / llama-index first
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from redis.utils import HIREDIS_AVAILABLE

import memfix
from benchmarks import append, history, instructions, memory, peers, report, restore
from benchmarks.corpus import corpus
from benchmarks.harness import PARSERS, Static, Workload, measure_static, run_workload
from benchmarks.regime import PINNED, UNPINNED, pick_cpu, regime
from memfix.servers import Server, connect_existing, default_spec, discover, select_spec


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "memfix_commit": _git("rev-parse", "--short", "HEAD"),
        "memfix_dirty": bool(_git("status", "--porcelain", "--", "memfix")),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "memfix": memfix.__version__,
        "redis-py": version("redis"),
        "hiredis": version("hiredis"),
        "msgspec": version("msgspec"),
        "langchain-community": version("langchain-community"),
        "llama-index-storage-chat-store-redis": version("llama-index-storage-chat-store-redis"),
    }


def _git(*args: str) -> str:
    """Output of a git command in the checkout this script belongs to ("" without git)."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def workloads(args: argparse.Namespace, notes: list[str]) -> list[Workload]:
    q = 0.15 if args.quick else 1.0
    small = corpus(4000)
    sizes = [s for s in args.sizes.split(",") if s]
    wls = [
        append.single(small, int(2000 * q)),
        append.batch(small, int(400 * q)),
        history.reads(small[:100], 100, int(600 * q), gc=False, name="history-100"),
        history.reads(small[:100], 100, int(600 * q), gc=True, name="history-100-gc"),
    ]
    tenk = corpus(10_000)
    wls += [
        history.reads(tenk, 0, max(5, int(20 * q)), gc=False, name="history-all", full=False),
        history.reads(tenk, 0, max(5, int(20 * q)), gc=True, name="history-all-gc", full=False),
    ]
    for size in sizes:
        if size == "200B":
            continue
        chars = {"4KB": 4096, "64KB": 65536}[size]
        msgs = corpus(400 if chars < 10_000 else 250, chars)
        calls = int((600 if chars < 10_000 else 150) * q)
        wls.append(append.single(msgs, calls, name=f"append-1-{size}", full=False))
        wls.append(
            history.reads(msgs[:100], 100, calls, gc=False, name=f"history-100-{size}", full=False)
        )
    if args.no_peers:
        notes.append("peers skipped (--no-peers)")
    else:
        p1, p10, ph = peers.peer_contenders(small, notes)
        wls[0].contenders += p1
        wls[1].contenders += p10
        wls[2].contenders += ph
    return wls


@contextlib.contextmanager
def open_server(args: argparse.Namespace) -> Iterator[tuple[Server, str]]:
    if args.url:
        srv = connect_existing(args.url, allow_write=False)
        yield srv, args.url
        return
    spec = select_spec(args.server) if args.server else default_spec()
    with spec.start() as srv:
        yield srv, spec.id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="a short run (< 1 min)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 7; quick: 3)")
    ap.add_argument("--regime", default=PINNED, choices=[PINNED, UNPINNED, "both"])
    ap.add_argument("--server", help="server id or prefix (default: memfix's default server)")
    ap.add_argument("--url", help="benchmark a running server instead (its db must be empty)")
    ap.add_argument("--parsers", default="hiredis", choices=["both", "hiredis", "python"])
    ap.add_argument("--sizes", default="200B,4KB,64KB", help="message sizes (200B,4KB,64KB)")
    ap.add_argument("--with-peers", action="store_true", help="pip-install the peers first")
    ap.add_argument("--no-peers", action="store_true", help="raw, memfix and article only")
    ap.add_argument("--long-lists", action="store_true", help="reads of long lists (1k..1M)")
    ap.add_argument("--long-lengths", default="1000,100000,1000000")
    ap.add_argument("--goldens", action="store_true", help="goldens and server starts")
    ap.add_argument(
        "--instructions", action="store_true", help="client instructions per call (valgrind)"
    )
    ap.add_argument("--golden-sizes", default="1000,10000", help="synthetic golden sizes")
    ap.add_argument("--json", default="bench-results.json", help="where to write the results")
    ap.add_argument("--markdown", help="also write the tables as Markdown to this file")
    ap.add_argument("--render", metavar="JSON", help="only print an earlier run's tables")
    args = ap.parse_args(argv)

    if args.render:
        earlier = json.loads(Path(args.render).read_text())
        earlier["targets"] = report.targets(earlier)  # judged by this code's targets
        print(report.render(earlier))
        if args.markdown:
            Path(args.markdown).write_text(report.render(earlier, md=True) + "\n")
        return 0
    if args.with_peers:
        peers.install_peers()
    rounds = args.rounds or (3 if args.quick else 7)
    slices = 3 if args.quick else 5
    parsers = ["hiredis", "python"] if args.parsers == "both" else [args.parsers]
    notes: list[str] = []
    if "hiredis" in parsers and not HIREDIS_AVAILABLE:
        parsers.remove("hiredis")
        notes.append("hiredis is not installed: pure-Python parser only")
    regimes = [PINNED, UNPINNED] if args.regime == "both" else [args.regime]
    wls = workloads(args, notes)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    static: list[Static] = []
    used_regimes: list[str] = []
    with open_server(args) as (srv, server_id):
        pid = getattr(srv, "pid", None)
        admin = srv.new_client()
        clients = {p: srv.new_client(parser_class=PARSERS[p]) for p in parsers}
        log(f"server: {server_id}; rounds: {rounds}; parsers: {', '.join(parsers)}")
        for wanted in regimes:
            with regime(wanted, pid, pick_cpu()) as used:
                if used != wanted:
                    notes.append(f"{wanted} regime unavailable (no local server pid): {used}")
                used_regimes.append(used)
                log(f"regime: {used}")
                for wl in wls:
                    wl.regime = used
                    for r in run_workload(wl, clients, rounds, slices, log):
                        rows.append({**asdict(r), "regime": used})
                    if wanted == regimes[0]:
                        static += measure_static(wl, clients[parsers[0]], admin, 50)
        counted: list[dict[str, Any]] = []
        if args.instructions and not args.url:
            log("client instructions per call (callgrind)")
            counted = instructions.measure(int(admin.connection_pool.connection_kwargs["port"]))
        bytes_rows = memory.bytes_per_message(admin)
        growth = memory.growth(admin)
        info = admin.info("server")
        server_version = info.get("valkey_version") or info.get("redis_version")
        for c in clients.values():
            c.close()
        admin.close()

    long_rows: list[dict[str, Any]] = []
    starts: list[dict[str, Any]] = []
    committed: list[dict[str, Any]] = []
    matrix: list[dict[str, Any]] = []
    goldens: dict[str, Any] | None = None
    if args.long_lists and not args.url:
        local = discover(docker=False)
        specs = [local[0], local[-1]] if len(local) > 1 else local
        lengths = [int(x) for x in args.long_lengths.split(",")]
        long_rows = memory.long_lists(specs, lengths, log)
    if args.goldens and not args.url:
        spec = select_spec(args.server) if args.server else default_spec()
        others = [o for o in restore.all_specs(notes, docker=False) if o != spec]
        log("server starts")
        starts = restore.time_server_starts([spec, *others], repeat=3 if args.quick else 5)
        log("golden matrix (pytest)")
        matrix = restore.time_golden_matrix(3 if args.quick else 5, notes)
        log("committed goldens")
        committed = restore.verify_committed([spec, *others], notes)
        sizes = [int(s) for s in args.golden_sizes.split(",")]
        goldens = restore.bench_goldens(spec, sizes, repeat=1 if args.quick else 3, log=log)

    result: dict[str, Any] = {
        "memfix_bench": 2,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "server": {"id": server_id, "version": server_version},
        "rounds": rounds,
        "parsers": parsers,
        "regimes": used_regimes,
        "main_regime": used_regimes[0],
        "workloads": [
            {
                "name": w.name,
                "title": w.title,
                "unit": w.unit,
                "baselines": w.baselines,
                "regime": r,
            }
            for r in used_regimes
            for w in wls
        ],
        "rows": rows,
        "static": [asdict(s) for s in static],
        "memory": bytes_rows,
        "record_sizes": memory.record_sizes(),
        "growth": growth,
        "long_lists": long_rows,
        "instructions": counted,
        "server_starts": starts,
        "committed_goldens": committed,
        "golden_matrix": matrix,
        "goldens": goldens,
        "notes": notes,
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    result["targets"] = report.targets(result)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(report.render(result))
    if args.markdown:
        Path(args.markdown).write_text(report.render(result, md=True) + "\n")
    print(f"\nresults: {args.json} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
