"""Print the figures of docs/peers.md: memfix.testing's harness on memfix and its peers.

    .venv/bin/python scripts/peers.py [--runs 3]

Needs the peers extra (`pip install -e '.[peers]'`; scripts/test installs it).
One fresh embedded server per run; every figure comes from this run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from collections.abc import Callable
from typing import Any

from memfix.servers import Persistence, default_spec
from memfix.testing import (
    RedisStoreFactory,
    StoreOnServer,
    Workload,
    run_batch_atomicity,
    run_concurrency,
    run_crash_cycles,
)
from memfix.testing.adapters.langchain import LangchainStoreFactory
from memfix.testing.adapters.llama_index import LlamaIndexStoreFactory

STORES: dict[str, Callable[[str], Any]] = {
    "memfix": RedisStoreFactory,
    f"langchain-community {importlib.metadata.version('langchain-community')}": (
        LangchainStoreFactory
    ),
    "llama-index-storage-chat-store-redis "
    f"{importlib.metadata.version('llama-index-storage-chat-store-redis')}": LlamaIndexStoreFactory,
}
# 6 writers x 150 = 900 messages on the shared sessions, 2 compactors, 2 window writers.
WORKLOAD = Workload(messages_per_writer=150, deadline_s=60.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    spec = default_spec()
    print(f"server: {spec.id}; workload: {WORKLOAD}\n")
    print(
        "| store | run | lost / 900 | duplicated | out of order | misplaced summaries "
        "| window lost / duplicated | errors |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, factory_for in STORES.items():
        for run in range(args.runs):
            with spec.start() as server:
                r = run_concurrency(factory_for(server.url), WORKLOAD, processes=2)
            print(
                f"| {name} | {run + 1} | {r.check.lost} | {r.check.duplicated} "
                f"| {r.check.out_of_order} | {r.check.misplaced_summaries} "
                f"| {r.window.lost} / {r.window.duplicated} | {len(r.errors)} |",
                flush=True,
            )
    print(
        "\n| store | batches split by a concurrent single writer | torn batches after "
        "10 kill -9 cycles, AOF always | acknowledged lost |"
    )
    print("|---|---|---|---|")
    for name, factory_for in STORES.items():
        with spec.start() as server:
            b = run_batch_atomicity(factory_for(server.url), batches=30)
        with spec.start(persistence=Persistence.AOF_ALWAYS) as server:
            c = run_crash_cycles(server, store_on=StoreOnServer(factory_for), cycles=10)
        print(
            f"| {name} | {b.split} / {b.batches} | {c.torn_batches} "
            f"| {c.lost} / {c.acknowledged} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
