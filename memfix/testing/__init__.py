"""A durability and concurrency regression suite any ``MemoryStore`` can reuse.

For pytest, subclass the contracts and provide one fixture::

    from memfix.testing import MemoryStoreContract, RedisStoreFactory

    class TestMyStore(MemoryStoreContract):
        @pytest.fixture
        def make_store(self, server):
            return RedisStoreFactory(server.url)

Outside pytest, the harness functions return plain result objects with the
counts (acknowledged, present, lost, duplicated, out of order), e.g. to print
them for a report: :func:`run_concurrency`, :func:`run_crash_cycles`,
:func:`record_data_dir` / :func:`verify_data_dir`.
"""

import pytest

# Plain asserts in the reusable suites get pytest's introspection in failures,
# as they would in a test module (must run before the module is imported).
pytest.register_assert_rewrite("memfix.testing.contract")

from memfix.testing.concurrency import ConcurrencyResult, Workload, run_concurrency  # noqa: E402
from memfix.testing.contract import DurabilityContract, MemoryStoreContract  # noqa: E402
from memfix.testing.durability import (  # noqa: E402
    CrashResult,
    UpgradeResult,
    check_data_dir,
    record_data_dir,
    redis_store_on,
    run_crash_cycles,
    verify_data_dir,
)
from memfix.testing.factory import RedisStoreFactory, StoreFactory  # noqa: E402
from memfix.testing.invariants import (  # noqa: E402
    CheckResult,
    check_history,
    check_window,
    summarize,
    tag,
    tags_of,
)

__all__ = [
    "CheckResult",
    "ConcurrencyResult",
    "CrashResult",
    "DurabilityContract",
    "MemoryStoreContract",
    "RedisStoreFactory",
    "StoreFactory",
    "UpgradeResult",
    "Workload",
    "check_data_dir",
    "check_history",
    "check_window",
    "record_data_dir",
    "redis_store_on",
    "run_concurrency",
    "run_crash_cycles",
    "summarize",
    "tag",
    "tags_of",
    "verify_data_dir",
]
