"""A durability and concurrency regression suite any ``MemoryStore`` can reuse.

For pytest, subclass the contracts and provide one fixture (a factory may
declare its :class:`Capabilities`; tests of what it does not declare are
skipped with the capability named)::

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

from memfix.testing.capabilities import (  # noqa: E402
    ALL_FIELDS,
    Capabilities,
    capabilities_of,
    project,
)
from memfix.testing.concurrency import (  # noqa: E402
    BatchAtomicityResult,
    ConcurrencyResult,
    Workload,
    fit_workload,
    run_batch_atomicity,
    run_concurrency,
)
from memfix.testing.contract import DurabilityContract, MemoryStoreContract, need  # noqa: E402
from memfix.testing.durability import (  # noqa: E402
    CrashResult,
    StoreOnServer,
    UpgradeResult,
    check_data_dir,
    record_data_dir,
    redis_store_on,
    run_crash_cycles,
    verify_data_dir,
)
from memfix.testing.factory import FactoryFor, RedisStoreFactory, StoreFactory  # noqa: E402
from memfix.testing.fleet import FleetResult, run_mixed_fleet  # noqa: E402
from memfix.testing.invariants import (  # noqa: E402
    CheckResult,
    check_history,
    check_window,
    summarize,
    tag,
    tags_of,
)
from memfix.testing.releases import ReleaseStore, ReleaseStoreFactory, pinned_store  # noqa: E402

__all__ = [
    "ALL_FIELDS",
    "BatchAtomicityResult",
    "Capabilities",
    "CheckResult",
    "ConcurrencyResult",
    "CrashResult",
    "DurabilityContract",
    "FactoryFor",
    "FleetResult",
    "MemoryStoreContract",
    "RedisStoreFactory",
    "ReleaseStore",
    "ReleaseStoreFactory",
    "StoreFactory",
    "StoreOnServer",
    "UpgradeResult",
    "Workload",
    "capabilities_of",
    "check_data_dir",
    "check_history",
    "check_window",
    "fit_workload",
    "need",
    "pinned_store",
    "project",
    "record_data_dir",
    "redis_store_on",
    "run_batch_atomicity",
    "run_concurrency",
    "run_crash_cycles",
    "run_mixed_fleet",
    "summarize",
    "tag",
    "tags_of",
    "verify_data_dir",
]
