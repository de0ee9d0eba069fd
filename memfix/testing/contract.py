"""Reusable pytest suites: subclass, provide a fixture, get every check that applies.

``MemoryStoreContract`` needs ``make_store`` (a :class:`StoreFactory` whose
stores share one fresh, empty backend per test). ``DurabilityContract`` needs
``start_server`` (a callable starting a fresh restartable server with a given
:class:`Persistence`). Each test needs some :class:`Capabilities`; the ones a
store does not declare are skipped with the capability named. Neither class
name starts with ``Test``, so importing them into a test module does not
collect them twice.
"""

from __future__ import annotations

import contextlib
import pickle
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from memfix.errors import CompactionConflict
from memfix.model import Message, ToolCall
from memfix.servers import Persistence, Server
from memfix.store.base import MemoryStore
from memfix.testing.capabilities import Capabilities, capabilities_of, project
from memfix.testing.concurrency import (
    BatchAtomicityResult,
    ConcurrencyResult,
    Workload,
    run_batch_atomicity,
    run_concurrency,
)
from memfix.testing.durability import CrashResult, StoreOn, redis_store_on, run_crash_cycles
from memfix.testing.factory import StoreFactory
from memfix.testing.invariants import check_history, summarize, tag

__all__ = ["DurabilityContract", "MemoryStoreContract", "need"]

StartServer = Callable[[Persistence], Server]
Result = ConcurrencyResult | BatchAtomicityResult | CrashResult


def _msgs(n: int, writer: str = "m") -> list[Message]:
    return [Message("user" if i % 2 else "assistant", tag(writer, i), 1000.0 + i) for i in range(n)]


def _mark_known_defect(request: pytest.FixtureRequest, defects: Mapping[str, str]) -> None:
    name = request.function.__name__
    if name in defects:
        request.applymarker(pytest.mark.xfail(strict=True, reason=defects[name]))


def need(caps: Capabilities, *names: str) -> None:
    """Skip the running test unless the store declares every capability named."""
    missing = caps.missing(*names)
    if missing:
        pytest.skip(f"store does not declare capability {', '.join(missing)}")


class MemoryStoreContract:
    """The :class:`MemoryStore` contract, plus concurrency, for any implementation.

    Override ``make_store``. Class attributes size the concurrency runs;
    :meth:`report` receives every measured run with the test's id.
    """

    concurrency_workload = Workload(messages_per_writer=60, deadline_s=30.0)
    concurrency_processes = 2
    atomicity_batches = 30
    #: Test name -> the defect it shows in this store: run as a strict expected
    #: failure, so the day the store is fixed shows up as an unexpected pass.
    known_defects: Mapping[str, str] = {}

    @pytest.fixture(autouse=True)
    def _known_defect(self, request: pytest.FixtureRequest) -> None:
        _mark_known_defect(request, self.known_defects)

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        """Override: a factory of stores on one fresh, empty backend for this test."""
        raise NotImplementedError("subclass MemoryStoreContract and override make_store")

    @pytest.fixture
    def caps(self, make_store: StoreFactory) -> Capabilities:
        """What the store declares (see :func:`capabilities_of`)."""
        return capabilities_of(make_store)

    @pytest.fixture
    def store(self, make_store: StoreFactory) -> Iterator[MemoryStore]:
        with make_store() as store:
            yield store

    def report(self, test: str, result: Result) -> None:
        """Called with the test's node id and each measured run; override to collect them."""

    def assert_same(
        self, caps: Capabilities, got: Sequence[Message], want: Sequence[Message], what: str = ""
    ) -> None:
        """Equal on the fields the store keeps (``caps.keeps``)."""
        assert project(got, caps.keeps) == project(want, caps.keeps), what

    # -- reading and writing ---------------------------------------------------

    def test_round_trip_keeps_the_declared_fields(
        self, store: MemoryStore, caps: Capabilities
    ) -> None:
        call = ToolCall("call-1", "lookup", {"q": "ünï", "n": [1, 2.5, None]})
        sent = [
            # stores keep milliseconds
            Message("system", "be kind", 1700000000.125, {"model": "m", "tokens": 3}),
            Message("assistant", "", 1700000001.5, tool_calls=[call], name="bot"),
            Message("tool", '{"answer": 42}', 1700000002.0, name="lookup", tool_call_id="call-1"),
        ]
        store.append_messages("s1", sent)
        got = store.get_history("s1")
        assert len(got) == len(sent)
        for field in sorted(caps.keeps):
            assert project(got, [field]) == project(sent, [field]), f"field {field!r} changed"

    def test_retried_append_is_not_stored_twice(
        self, store: MemoryStore, caps: Capabilities
    ) -> None:
        """A client that retries after a timeout resends the same message (same id)."""
        need(caps, "idempotent_ids")
        m = Message("user", "once", 2.0)
        store.append_message("s", m)
        store.append_message("s", m)
        store.append_messages("s", [m, Message("user", "twice", 3.0)])
        assert [x.content for x in store.get_history("s")] == ["once", "twice"]

    def test_history_is_oldest_first_and_limit_takes_the_newest(
        self, store: MemoryStore, caps: Capabilities
    ) -> None:
        data = _msgs(150)
        store.append_messages("s", data)
        self.assert_same(caps, store.get_history("s"), data[-100:], "default limit")
        self.assert_same(caps, store.get_history("s", limit=3), data[-3:], "limit=3")
        self.assert_same(caps, store.get_history("s", limit=None), data, "limit=None")
        self.assert_same(caps, store.get_history("s", limit=1000), data, "limit=1000")
        assert store.get_history("s", limit=0) == []
        assert store.count("s") == 150

    def test_batches_keep_their_order_and_empty_batches_are_no_ops(
        self, store: MemoryStore, caps: Capabilities
    ) -> None:
        data = _msgs(10)
        store.append_message("s", data[0])
        store.append_messages("s", data[1:7])
        store.append_messages("s", [])
        store.append_messages("s", iter(data[7:]))
        self.assert_same(caps, store.get_history("s", limit=None), data)

    def test_unknown_sessions_are_empty(self, store: MemoryStore) -> None:
        assert store.get_history("nobody") == []
        assert store.count("nobody") == 0
        assert store.delete_session("nobody") is False
        assert store.sessions() == []

    def test_delete_and_list_sessions(self, store: MemoryStore) -> None:
        for sid in ("b", "a", "with:colons", "ünï"):
            store.append_messages(sid, _msgs(2))
        assert store.sessions() == sorted(["a", "b", "with:colons", "ünï"])
        assert store.delete_session("a") is True
        assert store.get_history("a") == []
        assert store.sessions() == sorted(["b", "with:colons", "ünï"])

    def test_content_round_trips_exactly(self, store: MemoryStore) -> None:
        contents = [
            "",
            "héllo — ünïcödé",
            "🤖🧠 👩‍👩‍👧 🇯🇵",
            'q " \\ \n \t \u0000 nul',
            "x" * (1 << 20),
        ]
        for i, content in enumerate(contents):
            store.append_message(f"s{i}", Message("user", content, 1.5))
            got = store.get_history(f"s{i}")
            assert [(m.role, m.content) for m in got] == [("user", content)], f"content #{i}"

    def test_stores_from_one_factory_share_the_backend(
        self, make_store: StoreFactory, caps: Capabilities
    ) -> None:
        with make_store() as a, make_store() as b:
            m = Message("user", "from a", 1.0)
            a.append_message("s", m)
            self.assert_same(caps, b.get_history("s"), [m])

    def test_concurrent_appends_never_land_inside_a_batch(
        self, make_store: StoreFactory, caps: Capabilities, request: pytest.FixtureRequest
    ) -> None:
        """A batch (a user turn and its reply) is one step: nobody else's message splits it."""
        need(caps, "atomic_batch")
        result = run_batch_atomicity(make_store, batches=self.atomicity_batches)
        self.report(request.node.nodeid, result)
        assert result.singles > 0, f"no single append raced the batches: {result.describe()}"
        assert result.ok, result.describe()

    # -- compaction -------------------------------------------------------------

    def test_compact_puts_the_summary_in_place(
        self, store: MemoryStore, caps: Capabilities
    ) -> None:
        data = _msgs(10)
        store.append_messages("s", data)
        summary = summarize(data[:7])
        assert store.compact("s", keep_last=3, summary=summary) == 7
        self.assert_same(caps, store.get_history("s", limit=None), [summary, *data[-3:]])
        assert store.compact("s", keep_last=10, summary=summary) == 0

    def test_compact_seen_keeps_what_was_appended_after_the_read(
        self, store: MemoryStore, caps: Capabilities
    ) -> None:
        """The summariser (an LLM call: seconds) read the history; appends went on meanwhile."""
        need(caps, "atomic_compaction", "seen:history")
        store.append_messages("s", _msgs(6))
        seen = store.get_history("s", limit=None)
        late = _msgs(4, "late")
        store.append_messages("s", late)
        summary = summarize(seen[:4])
        assert store.compact("s", keep_last=2, summary=summary, seen=seen) == 4
        self.assert_same(caps, store.get_history("s", limit=None), [summary, *seen[-2:], *late])

    def test_compact_seen_count_keeps_what_was_appended_after_the_read(
        self, store: MemoryStore, caps: Capabilities
    ) -> None:
        need(caps, "atomic_compaction", "seen:count")
        store.append_messages("s", _msgs(6))
        seen = store.get_history("s", limit=None)
        late = _msgs(4, "late")
        store.append_messages("s", late)
        summary = summarize(seen[:4])
        assert store.compact("s", keep_last=2, summary=summary, seen=len(seen)) == 4
        self.assert_same(caps, store.get_history("s", limit=None), [summary, *seen[-2:], *late])

    def test_compact_with_a_stale_seen_refuses(
        self, store: MemoryStore, caps: Capabilities
    ) -> None:
        need(caps, "seen:count")
        store.append_messages("s", _msgs(3))
        with pytest.raises(CompactionConflict):
            store.compact("s", keep_last=1, summary=Message("system", "x", 0.0), seen=5)
        assert store.count("s") == 3

    def test_compact_seen_is_safe_against_a_concurrent_compaction(
        self, store: MemoryStore, caps: Capabilities
    ) -> None:
        """Two summarisers read the same history; the second must not fold the first's work.

        After A compacts, enough new messages arrive for the list to be as long
        as B's ``seen`` again; B's compact must then refuse (or replace only
        what B read), never drop A's summary, the kept tail or the new messages.
        """
        need(caps, "atomic_compaction", "seen:history")
        data = _msgs(30)
        store.append_messages("s", data)
        history_a = store.get_history("s", limit=None)
        history_b = store.get_history("s", limit=None)  # a second summariser reads too
        store.compact("s", 5, summarize(history_a[:-5]), seen=history_a)
        late = _msgs(30, "late")
        store.append_messages("s", late)
        with contextlib.suppress(CompactionConflict):
            store.compact("s", 5, summarize(history_b[:-5]), seen=history_b)
        check = check_history(store.get_history("s", limit=None), [m.content for m in data + late])
        assert check.lost == 0 and check.duplicated == 0, check.describe()

    def test_compact_seen_is_safe_against_a_window_trim(
        self, make_store: StoreFactory, caps: Capabilities
    ) -> None:
        """A window trim between the read and the compact shifts the head: nothing may be lost."""
        need(caps, "window", "atomic_compaction", "seen:history")
        with make_store(max_messages=10) as store:
            data = _msgs(10)
            store.append_messages("s", data)
            history = store.get_history("s", limit=None)
            late = _msgs(3, "late")
            store.append_messages("s", late)  # the window drops the 3 oldest
            with contextlib.suppress(CompactionConflict):
                store.compact("s", 2, summarize(history[:-2]), seen=history)
            final = store.get_history("s", limit=None)
            check = check_history(final, [m.content for m in data[3:] + late])
            assert check.lost == 0, check.describe()

    # -- window and TTL -----------------------------------------------------------

    def test_window_keeps_the_newest(self, make_store: StoreFactory, caps: Capabilities) -> None:
        need(caps, "window")
        with make_store(max_messages=10) as store:
            data = _msgs(25)
            for m in data[:15]:
                store.append_message("s", m)
            store.append_messages("s", data[15:])
            self.assert_same(caps, store.get_history("s", limit=None), data[-10:])

    def test_ttl_expires_the_whole_session(
        self, make_store: StoreFactory, caps: Capabilities
    ) -> None:
        need(caps, "ttl")
        with make_store(ttl=1.0) as store:
            store.append_messages("s", _msgs(3))
            assert store.count("s") == 3
            deadline = time.monotonic() + 5
            while store.count("s") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert store.get_history("s") == [] and store.sessions() == []

    def test_ttl_is_sliding(self, make_store: StoreFactory, caps: Capabilities) -> None:
        need(caps, "ttl", "sliding_ttl")
        with make_store(ttl=1.0) as store:
            for attempt in range(3):  # a loaded machine may oversleep; only then try again
                store.delete_session("s")
                first = time.monotonic()
                store.append_messages("s", _msgs(3))
                time.sleep(0.6)
                store.append_message("s", Message("user", "keeps it alive", 0.0))
                refreshed = time.monotonic()
                time.sleep(0.6)  # 1.2 s after the first write: alive only if refreshed
                count = store.count("s")
                if refreshed - first < 0.9 and time.monotonic() - refreshed < 0.9:
                    break
                assert attempt < 2, "the machine kept oversleeping; TTL not checked"
            assert count == 4

    # -- concurrency ---------------------------------------------------------------

    def test_concurrent_threads_lose_nothing(
        self, make_store: StoreFactory, caps: Capabilities, request: pytest.FixtureRequest
    ) -> None:
        result = run_concurrency(
            make_store, self.concurrency_workload, processes=0, capabilities=caps
        )
        self.report(request.node.nodeid, result)
        assert result.ok, result.describe()
        if "atomic_compaction" not in result.skipped:
            assert result.compactions > 0, result.describe()

    def test_concurrent_processes_and_threads_lose_nothing(
        self, make_store: StoreFactory, caps: Capabilities, request: pytest.FixtureRequest
    ) -> None:
        try:
            pickle.dumps(make_store)
        except Exception as exc:
            pytest.skip(f"make_store is not picklable, processes cannot use it: {exc}")
        result = run_concurrency(
            make_store,
            self.concurrency_workload,
            processes=self.concurrency_processes,
            capabilities=caps,
        )
        self.report(request.node.nodeid, result)
        assert result.ok, result.describe()
        assert result.processes == self.concurrency_processes


class DurabilityContract:
    """Kill/restart cycles under each persistence policy.

    Override ``start_server``; override ``store_on`` for a store other than
    :class:`RedisMemoryStore` (declare its :class:`Capabilities` as a
    ``capabilities`` attribute of the callable, or override ``caps``), and
    :meth:`report` to collect the measured figures.
    """

    cycles = 10
    write_seconds = 0.2
    #: As :attr:`MemoryStoreContract.known_defects`.
    known_defects: Mapping[str, str] = {}

    @pytest.fixture(autouse=True)
    def _known_defect(self, request: pytest.FixtureRequest) -> None:
        _mark_known_defect(request, self.known_defects)

    #: everysec fsyncs once a second and postpones a write for at most 2 s more.
    everysec_window_s = 3.0

    @pytest.fixture
    def start_server(self) -> StartServer:
        """Override: start a fresh server with this persistence (a context manager)."""
        raise NotImplementedError("subclass DurabilityContract and override start_server")

    @pytest.fixture
    def store_on(self) -> StoreOn:
        return redis_store_on

    @pytest.fixture
    def caps(self, store_on: StoreOn) -> Capabilities:
        declared = getattr(store_on, "capabilities", None)
        return declared if isinstance(declared, Capabilities) else Capabilities()

    def report(self, test: str, result: Result) -> None:
        """Called with the test's node id and each crash run's figures; override to collect."""

    def _crash(
        self,
        start_server: StartServer,
        store_on: StoreOn,
        p: Persistence,
        request: pytest.FixtureRequest,
    ) -> CrashResult:
        with start_server(p) as server:
            result = run_crash_cycles(
                server, store_on=store_on, cycles=self.cycles, write_seconds=self.write_seconds
            )
        self.report(request.node.nodeid, result)
        assert result.cycles == self.cycles and result.acknowledged > 0, result.describe()
        assert not result.errors, result.errors
        return result

    def test_aof_always_keeps_every_acknowledged_append(
        self, start_server: StartServer, store_on: StoreOn, request: pytest.FixtureRequest
    ) -> None:
        result = self._crash(start_server, store_on, Persistence.AOF_ALWAYS, request)
        assert not (result.lost or result.duplicated or result.out_of_order), result.describe()

    def test_aof_always_leaves_no_torn_batch(
        self,
        start_server: StartServer,
        store_on: StoreOn,
        caps: Capabilities,
        request: pytest.FixtureRequest,
    ) -> None:
        """A kill mid-batch leaves the batch whole or absent, never a turn without its reply."""
        need(caps, "atomic_batch")
        result = self._crash(start_server, store_on, Persistence.AOF_ALWAYS, request)
        assert result.torn_batches == 0, result.describe()

    def test_aof_everysec_process_kill_loss_is_bounded(
        self, start_server: StartServer, store_on: StoreOn, request: pytest.FixtureRequest
    ) -> None:
        """What this can show: loss from a *process* kill is bounded and nothing is
        duplicated, reordered or torn. What it cannot: the ~1 s ``everysec``
        window, which only an OS crash or power loss opens (the page cache
        survives a process kill), so zero loss here is no guarantee.
        """
        result = self._crash(start_server, store_on, Persistence.AOF_EVERYSEC, request)
        assert result.lost <= result.acknowledged
        assert result.loss_window_s <= self.everysec_window_s, result.describe()
        assert not (result.duplicated or result.out_of_order), result.describe()

    def test_loss_without_persistence_is_detected(
        self, start_server: StartServer, store_on: StoreOn, request: pytest.FixtureRequest
    ) -> None:
        """The proof the check can fail: with nothing on disk, a kill must show as loss."""
        result = self._crash(start_server, store_on, Persistence.NONE, request)
        assert result.lost > 0 and not result.ok, result.describe()
        assert result.lost_per_cycle.count(0) == 0, result.describe()

    def test_rdb_kill_loss_is_reported(
        self, start_server: StartServer, store_on: StoreOn, request: pytest.FixtureRequest
    ) -> None:
        result = self._crash(start_server, store_on, Persistence.RDB, request)
        assert 0 <= result.lost <= result.acknowledged
        assert not (result.duplicated or result.out_of_order), result.describe()

    @pytest.mark.parametrize(
        "persistence", [Persistence.RDB, *[p for p in Persistence if p.is_aof]]
    )
    def test_graceful_restart_keeps_everything(
        self,
        start_server: StartServer,
        store_on: StoreOn,
        caps: Capabilities,
        persistence: Persistence,
    ) -> None:
        data = _msgs(50)
        with start_server(persistence) as server:
            with store_on(server) as store:
                store.append_messages("s", data[:20])
                for m in data[20:]:
                    store.append_message("s", m)
            server.restart()
            with store_on(server) as store:
                got = store.get_history("s", limit=None)
        assert project(got, caps.keeps) == project(data, caps.keeps)
