#!/usr/bin/env python
"""Cluster, async and server-start figures (docs/servers.md, "Measured").

    .venv/bin/python scripts/bench_cluster.py [start|cluster|async|all]

Ratios are taken in one run against a baseline measured alongside: a server's
start against the same binary started by hand and pinged in a tight loop; the
store on a cluster against raw redis-py commands on the same cluster; the async
store against the sync store, both driving 100 concurrent writers.
"""

# ruff: noqa: B023  (closures are called within their own loop iteration)
from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import msgspec

from memfix import AsyncRedisMemoryStore, Message, RedisMemoryStore
from memfix.servers import ClusterSpec, default_spec, discover
from memfix.servers.plumbing import free_port


def _median_ms(fn: Callable[[], float], n: int) -> float:
    return statistics.median(fn() for _ in range(n)) * 1000


def bench_start(rounds: int = 20) -> None:
    print("## fresh local server: start -> PONG (median ms)")
    print("| server | binary by hand | memfix start() | ratio |\n|---|---|---|---|")
    for spec in discover(docker=False):

        def by_hand() -> float:
            d, port = tempfile.mkdtemp(), free_port()
            argv = [str(spec.executable), "--port", str(port), "--bind", "127.0.0.1", "--dir", d]
            argv += ["--save", "", "--appendonly", "no", "--logfile", f"{d}/log"]
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(64).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
            took = time.perf_counter() - t0
            proc.kill()
            proc.wait()
            return took

        def memfix() -> float:
            t0 = time.perf_counter()
            server = spec.start()
            took = time.perf_counter() - t0
            server.stop()
            return took

        pairs = [(by_hand(), memfix()) for _ in range(rounds)]  # interleaved
        hand = statistics.median(p[0] for p in pairs) * 1000
        ours = statistics.median(p[1] for p in pairs) * 1000
        print(f"| {spec.id} | {hand:.1f} | {ours:.1f} | {ours / hand:.2f}x |")


def _ops(label: str, fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def bench_cluster(n: int = 3000) -> None:
    print("\n## cluster: start, and the store against raw redis-py on the same cluster")
    print(
        "| cluster | start s | append ops/s (raw RPUSH) | ratio | get_history(100) ops/s "
        "(raw LRANGE+decode) | ratio |\n|---|---|---|---|---|---|"
    )
    local = discover(docker=False)
    for node in [s for s in local if s.product == "redis"][:1] + [
        s for s in local if s.product == "valkey"
    ][-1:]:
        with ClusterSpec(node).start() as cluster:
            client = cluster.new_client()
            store = RedisMemoryStore(client)
            msg = Message("user", "x" * 200, 1.0, id=None)
            record = msgspec.json.encode(msg)
            raw_append = _ops("raw", lambda: client.rpush("raw:s", record), n)
            ours_append = _ops("memfix", lambda: store.append_message("s", msg), n)
            store.append_messages("h", [Message("user", "x" * 200, float(i)) for i in range(100)])
            client.rpush("raw:h", *[record] * 100)
            decoder = msgspec.json.Decoder()
            raw_read = _ops(
                "raw",
                lambda: [decoder.decode(r) for r in client.lrange("raw:h", -100, -1)],
                n // 3,
            )
            ours_read = _ops("memfix", lambda: store.get_history("h"), n // 3)
            print(
                f"| {cluster.spec.id} | {cluster.started_in_s:.2f} | {ours_append:,.0f} "
                f"({raw_append:,.0f}) | {ours_append / raw_append:.2f}x | {ours_read:,.0f} "
                f"({raw_read:,.0f}) | {ours_read / raw_read:.2f}x |"
            )
            client.close()


def bench_async(tasks: int = 100, per_task: int = 50) -> None:
    print(f"\n## async vs sync: {tasks} concurrent writers x {per_task} appends, one server")
    with default_spec().start() as server:
        msgs = [Message("user", "x" * 200, float(i)) for i in range(per_task)]

        async def run_async() -> float:
            async with AsyncRedisMemoryStore(server.url) as store:
                t0 = time.perf_counter()

                async def write(k: int) -> None:
                    for m in msgs:
                        await store.append_message(f"a{k}", m)

                await asyncio.gather(*[write(k) for k in range(tasks)])
                return time.perf_counter() - t0

        def run_sync() -> float:
            import redis

            pool = redis.BlockingConnectionPool.from_url(server.url, max_connections=tasks)
            store = RedisMemoryStore(redis.Redis(connection_pool=pool))
            t0 = time.perf_counter()

            def write(k: int) -> None:
                for m in msgs:
                    store.append_message(f"t{k}", m)

            threads = [threading.Thread(target=write, args=(k,)) for k in range(tasks)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.perf_counter() - t0
            pool.disconnect()
            return took

        rounds = [(asyncio.run(run_async()), run_sync()) for _ in range(3)]
        a = statistics.median(r[0] for r in rounds)
        s = statistics.median(r[1] for r in rounds)
        total = tasks * per_task
        print("| store | appends/s |\n|---|---|")
        print(f"| AsyncRedisMemoryStore, {tasks} tasks | {total / a:,.0f} |")
        print(f"| RedisMemoryStore, {tasks} threads | {total / s:,.0f} |")
        print(f"async/sync throughput ratio: {s / a:.2f}x")


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("start", "all"):
        bench_start()
    if what in ("cluster", "all"):
        bench_cluster()
    if what in ("async", "all"):
        bench_async()


if __name__ == "__main__":
    main()
