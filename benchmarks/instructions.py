"""Client-side cost in instructions: a noise-free complement to the timed ratios.

On a machine shared with other work, wall-clock ratios move between runs. The
number of instructions the client executes per call does not: each contender
runs N calls under ``valgrind --tool=callgrind`` against a real server, minus a
run of 0 calls, divided by N (``PYTHONHASHSEED=0``). It counts only the client
process (user space): the server's time is in the timed tables
(``server µs/call``), the kernel's in neither.

    python -m benchmarks.instructions        # needs valgrind on PATH
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import Any

import msgspec
import redis

from benchmarks.append import MINIMAL_SCRIPT, hand_encode
from benchmarks.corpus import corpus
from memfix import RedisMemoryStore, schemas

CALLS = {"append": 2000, "history": 300}
TTL_MS = b"3600000"


def _run(mode: str, n: int, port: int) -> None:
    """The measured body (in the child process under valgrind)."""
    msgs = corpus(CALLS["append"])  # the same setup whatever n is: only the calls differ
    encoded = [schemas.encode_message(m) for m in msgs]
    r = redis.Redis(port=port)
    store = RedisMemoryStore(r, ttl=3600, max_messages=100)
    sha = r.script_load(MINIMAL_SCRIPT)
    store.append_message("warm", msgs[0])
    r.execute_command("EVALSHA", sha, 1, "session:warm2:messages", TTL_MS, encoded[0])  # type: ignore[no-untyped-call]
    store.get_history("history", 100)
    decode = msgspec.msgpack.decode
    if mode == "append memfix ttl+window":
        for m in msgs[:n]:
            store.append_message("a", m)
    elif mode == "append minimal script (encode + EVALSHA)":
        run = r.execute_command
        for m in msgs[:n]:
            run("EVALSHA", sha, 1, "session:b:messages", TTL_MS, hand_encode(m))  # type: ignore[no-untyped-call]
    elif mode == "history memfix get_history(100)":
        for _ in range(n):
            store.get_history("history", 100)
    elif mode == "history LRANGE + untyped decode":
        for _ in range(n):
            [decode(x) for x in r.lrange("session:history:messages", -100, -1)]  # type: ignore[arg-type]


def _instructions(mode: str, n: int, port: int) -> int:
    child = [sys.executable, "-m", "benchmarks.instructions", "--child", mode, str(n), str(port)]
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *child],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total: {done.stderr[-300:]}")
    return int(found.group(1))


def measure(port: int) -> list[dict[str, Any]]:
    """Instructions per call of memfix and of its limit baseline, append and history."""
    r = redis.Redis(port=port)
    RedisMemoryStore(r).append_messages("history", corpus(100))
    rows = []
    for kind, pair in (
        ("append", ("append memfix ttl+window", "append minimal script (encode + EVALSHA)")),
        ("history", ("history memfix get_history(100)", "history LRANGE + untyped decode")),
    ):
        n = CALLS[kind]
        per = {m: (_instructions(m, n, port) - _instructions(m, 0, port)) / n for m in pair}
        rows.append(
            {
                "workload": kind,
                "memfix": pair[0],
                "baseline": pair[1],
                "memfix_instructions": round(per[pair[0]]),
                "baseline_instructions": round(per[pair[1]]),
                "ratio": round(per[pair[1]] / per[pair[0]], 3),
            }
        )
    return rows


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        _run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instruction counts skipped", file=sys.stderr)
        return 1
    from memfix.servers import default_spec

    with default_spec().start() as srv:
        port = int(srv.client.connection_pool.connection_kwargs["port"])
        for row in measure(port):
            print(
                f"{row['workload']:8s} memfix {row['memfix_instructions']:>9,}  "
                f"baseline {row['baseline_instructions']:>9,}  "
                f"baseline/memfix {row['ratio']:.3f}   ({row['baseline']})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
