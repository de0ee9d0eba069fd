"""memfix.testing's whole contract on llama-index's RedisChatStore.

No test is overridden: the adapter declares the capabilities, and the
defects the contract finds are strict expected failures naming the defect
(a llama-index release that fixes one turns it into an unexpected pass).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from memfix.testing import DurabilityContract, MemoryStoreContract, StoreOnServer
from tests.peers import start_server, write_report

li = pytest.importorskip(
    "memfix.testing.adapters.llama_index",
    reason="needs the peers extra: pip install 'memfix[peers]'",
)

SPLIT_BATCH = (
    "no batch API: a turn is one add_message (RPUSH) per message, so another writer's "
    "message lands inside it"
)
COMPACTION_LOSES = (
    "compaction as ChatMemoryBuffer does it (get_messages, summarise, set_messages) loses what "
    "was appended between the read and the rewrite, and set_messages (DEL + one RPUSH per "
    "message) lets appends land inside the rewrite"
)
DELETE_REVERSES = (
    "delete_message(key, 0) rewrites the rest with LPUSH, reversing it: "
    "[m0, m1, m2, m3] -> [m3, m2, m1]"
)
DEFECTS = {
    "test_concurrent_appends_never_land_inside_a_batch": SPLIT_BATCH,
    "test_compact_seen_keeps_what_was_appended_after_the_read": COMPACTION_LOSES,
    "test_compact_seen_is_safe_against_a_concurrent_compaction": COMPACTION_LOSES,
    "test_window_keeps_the_newest": DELETE_REVERSES,
    "test_compact_seen_is_safe_against_a_window_trim": DELETE_REVERSES,
    "test_concurrent_threads_lose_nothing": f"{COMPACTION_LOSES}; {DELETE_REVERSES}",
    "test_concurrent_processes_and_threads_lose_nothing": f"{COMPACTION_LOSES}; {DELETE_REVERSES}",
    "test_aof_always_leaves_no_torn_batch": f"a kill -9 mid-turn leaves half of it: {SPLIT_BATCH}",
}


class TestLlamaIndexContract(MemoryStoreContract):
    known_defects = DEFECTS

    @pytest.fixture
    def make_store(self) -> Iterator[Any]:
        with start_server() as server:
            yield li.LlamaIndexStoreFactory(server.url)

    def report(self, test: str, result: Any) -> None:
        write_report(test, result)


class TestLlamaIndexDurability(DurabilityContract):
    known_defects = DEFECTS

    @pytest.fixture
    def start_server(self) -> Any:
        return start_server

    @pytest.fixture
    def store_on(self) -> StoreOnServer:
        return StoreOnServer(li.LlamaIndexStoreFactory)

    def report(self, test: str, result: Any) -> None:
        write_report(test, result)
