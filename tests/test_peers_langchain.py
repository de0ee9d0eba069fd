"""memfix.testing's whole contract on langchain_community's RedisChatMessageHistory.

No test is overridden: the adapter declares the capabilities, and the
defects the contract finds are strict expected failures naming the defect
(a langchain release that fixes one turns it into an unexpected pass).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from memfix.testing import DurabilityContract, MemoryStoreContract, StoreOnServer
from tests.peers import start_server, write_report

lc = pytest.importorskip(
    "memfix.testing.adapters.langchain", reason="needs the peers extra: pip install 'memfix[peers]'"
)

SPLIT_BATCH = "add_messages is one LPUSH per message: another writer's message lands inside a batch"
COMPACTION_LOSES = (
    "compaction as LangChain documents it (read messages, summarise, clear(), add_messages) "
    "loses what was appended between the read and the clear, and appends landing inside "
    "the rewrite reorder the session"
)
DEFECTS = {
    "test_concurrent_appends_never_land_inside_a_batch": SPLIT_BATCH,
    "test_compact_seen_keeps_what_was_appended_after_the_read": COMPACTION_LOSES,
    "test_compact_seen_is_safe_against_a_concurrent_compaction": COMPACTION_LOSES,
    "test_concurrent_threads_lose_nothing": COMPACTION_LOSES,
    "test_concurrent_processes_and_threads_lose_nothing": COMPACTION_LOSES,
    "test_aof_always_leaves_no_torn_batch": (
        "a kill -9 mid add_messages leaves a half-written batch (a turn without its reply): "
        + SPLIT_BATCH
    ),
}


class TestLangchainContract(MemoryStoreContract):
    known_defects = DEFECTS

    @pytest.fixture
    def make_store(self) -> Iterator[Any]:
        with start_server() as server:
            yield lc.LangchainStoreFactory(server.url)

    def report(self, test: str, result: Any) -> None:
        write_report(test, result)


class TestLangchainDurability(DurabilityContract):
    known_defects = DEFECTS

    @pytest.fixture
    def start_server(self) -> Any:
        return start_server

    @pytest.fixture
    def store_on(self) -> StoreOnServer:
        return StoreOnServer(lc.LangchainStoreFactory)

    def report(self, test: str, result: Any) -> None:
        write_report(test, result)
