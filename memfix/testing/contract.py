"""Reusable pytest suites: subclass, provide a fixture, get every check.

``MemoryStoreContract`` needs ``make_store`` (a :class:`StoreFactory` whose
stores share one fresh, empty backend per test). ``DurabilityContract`` needs
``start_server`` (a callable starting a fresh restartable server with a given
:class:`Persistence`). Neither class name starts with ``Test``, so importing
them into a test module does not collect them twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import time
from collections.abc import Callable, Iterator

import pytest

from memfix.errors import CompactionConflict
from memfix.model import Message
from memfix.servers import Persistence, Server
from memfix.store.base import MemoryStore
from memfix.testing.concurrency import ConcurrencyResult, Workload, run_concurrency
from memfix.testing.durability import CrashResult, StoreOn, redis_store_on, run_crash_cycles
from memfix.testing.factory import StoreFactory
from memfix.testing.invariants import check_history, summarize, tag

__all__ = ["DurabilityContract", "MemoryStoreContract"]

StartServer = Callable[[Persistence], Server]


def _msgs(n: int, writer: str = "m") -> list[Message]:
    return [Message("user" if i % 2 else "assistant", tag(writer, i), 1000.0 + i) for i in range(n)]


def _optional(
    make_store: StoreFactory, *, ttl: float | None = None, max_messages: int | None = None
) -> MemoryStore:
    try:
        return make_store(ttl=ttl, max_messages=max_messages)
    except NotImplementedError as exc:
        pytest.skip(f"store lacks an option this test needs: {exc}")


class MemoryStoreContract:
    """The :class:`MemoryStore` contract, plus concurrency, for any implementation.

    Override :meth:`make_store`. Class attributes size the concurrency runs.
    """

    concurrency_workload = Workload(messages_per_writer=60)
    concurrency_processes = 2

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        """Override: a factory of stores on one fresh, empty backend for this test."""
        raise NotImplementedError("subclass MemoryStoreContract and override make_store")

    @pytest.fixture
    def store(self, make_store: StoreFactory) -> Iterator[MemoryStore]:
        with make_store() as store:
            yield store

    def report(self, result: ConcurrencyResult) -> None:
        """Called with each concurrency run's counts; override to collect them."""

    # -- reading and writing ---------------------------------------------------

    def test_round_trip_keeps_every_field(self, store: MemoryStore) -> None:
        m = Message("system", "be kind", 1700000000.125)  # stores keep milliseconds
        store.append_message("s1", m)
        assert store.get_history("s1") == [m]

    def test_retried_append_is_not_stored_twice(self, store: MemoryStore) -> None:
        """A client that retries after a timeout resends the same message (same id)."""
        m = Message("user", "once", 2.0)
        if getattr(m, "id", None) is None:
            pytest.skip("Message has no id: retries cannot be recognised")
        store.append_message("s", m)
        store.append_message("s", m)
        store.append_messages("s", [m, Message("user", "twice", 3.0)])
        assert [x.content for x in store.get_history("s")] == ["once", "twice"]

    def test_history_is_oldest_first_and_limit_takes_the_newest(self, store: MemoryStore) -> None:
        data = _msgs(150)
        store.append_messages("s", data)
        assert store.get_history("s") == data[-100:]
        assert store.get_history("s", limit=3) == data[-3:]
        assert store.get_history("s", limit=None) == data
        assert store.get_history("s", limit=1000) == data
        assert store.get_history("s", limit=0) == []
        assert store.count("s") == 150

    def test_batches_keep_their_order_and_empty_batches_are_no_ops(
        self, store: MemoryStore
    ) -> None:
        data = _msgs(10)
        store.append_message("s", data[0])
        store.append_messages("s", data[1:7])
        store.append_messages("s", [])
        store.append_messages("s", iter(data[7:]))
        assert store.get_history("s", limit=None) == data

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
            m = Message("user", content, 1.5)
            store.append_message(f"s{i}", m)
            assert store.get_history(f"s{i}") == [m], f"content #{i} changed"

    def test_stores_from_one_factory_share_the_backend(self, make_store: StoreFactory) -> None:
        with make_store() as a, make_store() as b:
            m = Message("user", "from a", 1.0)
            a.append_message("s", m)
            assert b.get_history("s") == [m]

    # -- compaction -------------------------------------------------------------

    def test_compact_puts_the_summary_in_place(self, store: MemoryStore) -> None:
        data = _msgs(10)
        store.append_messages("s", data)
        summary = summarize(data[:7])
        assert store.compact("s", keep_last=3, summary=summary) == 7
        assert store.get_history("s", limit=None) == [summary, *data[-3:]]
        assert store.compact("s", keep_last=10, summary=summary) == 0

    def test_compact_seen_keeps_what_was_appended_after_the_read(self, store: MemoryStore) -> None:
        store.append_messages("s", _msgs(6))
        seen = store.get_history("s", limit=None)
        late = _msgs(4, "late")
        store.append_messages("s", late)
        summary = summarize(seen[:4])
        assert store.compact("s", keep_last=2, summary=summary, seen=seen) == 4
        assert store.get_history("s", limit=None) == [summary, *seen[-2:], *late]

    def test_compact_with_a_stale_seen_refuses(self, store: MemoryStore) -> None:
        store.append_messages("s", _msgs(3))
        with pytest.raises(CompactionConflict):
            store.compact("s", keep_last=1, summary=Message("system", "x", 0.0), seen=5)
        assert store.count("s") == 3

    def test_compact_seen_is_safe_against_a_concurrent_compaction(self, store: MemoryStore) -> None:
        """Two summarisers read the same history; the second must not fold the first's work.

        After A compacts, enough new messages arrive for the list to be as long
        as B's ``seen`` again; B's compact must then refuse (or replace only
        what B read), never drop A's summary, the kept tail or the new messages.
        """
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

    def test_compact_seen_is_safe_against_a_window_trim(self, make_store: StoreFactory) -> None:
        """A window trim between the read and the compact shifts the head: nothing may be lost."""
        with _optional(make_store, max_messages=10) as store:
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

    def test_window_keeps_the_newest(self, make_store: StoreFactory) -> None:
        with _optional(make_store, max_messages=10) as store:
            data = _msgs(25)
            for m in data[:15]:
                store.append_message("s", m)
            store.append_messages("s", data[15:])
            assert store.get_history("s", limit=None) == data[-10:]

    def test_ttl_is_sliding_and_expires_the_whole_session(self, make_store: StoreFactory) -> None:
        with _optional(make_store, ttl=1.0) as store:
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
            deadline = time.monotonic() + 5
            while store.count("s") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert store.get_history("s") == []

    # -- concurrency ---------------------------------------------------------------

    def _workload(self, make_store: StoreFactory) -> Workload:
        w = self.concurrency_workload
        try:
            make_store(ttl=w.ttl, max_messages=w.window).close()
        except NotImplementedError:
            w = dataclasses.replace(w, window_writers=0, ttl=None)
        return w

    def test_concurrent_threads_lose_nothing(self, make_store: StoreFactory) -> None:
        result = run_concurrency(make_store, self._workload(make_store), processes=0)
        self.report(result)
        assert result.ok, result.describe()
        assert result.compactions > 0, result.describe()

    def test_concurrent_processes_and_threads_lose_nothing(self, make_store: StoreFactory) -> None:
        try:
            pickle.dumps(make_store)
        except Exception as exc:
            pytest.skip(f"make_store is not picklable, processes cannot use it: {exc}")
        result = run_concurrency(
            make_store, self._workload(make_store), processes=self.concurrency_processes
        )
        self.report(result)
        assert result.ok, result.describe()
        assert result.processes == self.concurrency_processes


class DurabilityContract:
    """Kill/restart cycles under each persistence policy.

    Override :meth:`start_server`; override :meth:`store_on` for a store
    other than :class:`RedisMemoryStore`, and :meth:`report` to collect the
    measured figures.
    """

    cycles = 10
    write_seconds = 0.2
    #: everysec fsyncs once a second and postpones a write for at most 2 s more.
    everysec_window_s = 3.0

    @pytest.fixture
    def start_server(self) -> StartServer:
        """Override: start a fresh server with this persistence (a context manager)."""
        raise NotImplementedError("subclass DurabilityContract and override start_server")

    @pytest.fixture
    def store_on(self) -> StoreOn:
        return redis_store_on

    def report(self, result: CrashResult) -> None:
        """Called with each crash run's figures; override to collect them."""

    def _crash(self, start_server: StartServer, store_on: StoreOn, p: Persistence) -> CrashResult:
        with start_server(p) as server:
            result = run_crash_cycles(
                server, store_on=store_on, cycles=self.cycles, write_seconds=self.write_seconds
            )
        self.report(result)
        assert result.cycles == self.cycles and result.acknowledged > 0, result.describe()
        assert not result.errors, result.errors
        return result

    def test_aof_always_keeps_every_acknowledged_append(
        self, start_server: StartServer, store_on: StoreOn
    ) -> None:
        result = self._crash(start_server, store_on, Persistence.AOF_ALWAYS)
        assert result.ok, result.describe()

    def test_aof_everysec_loss_is_measured_and_bounded(
        self, start_server: StartServer, store_on: StoreOn
    ) -> None:
        result = self._crash(start_server, store_on, Persistence.AOF_EVERYSEC)
        assert result.lost <= result.acknowledged
        assert result.loss_window_s <= self.everysec_window_s, result.describe()
        assert not (result.duplicated or result.out_of_order or result.torn_batches)

    def test_loss_without_persistence_is_detected(
        self, start_server: StartServer, store_on: StoreOn
    ) -> None:
        """The proof the check can fail: with nothing on disk, a kill must show as loss."""
        result = self._crash(start_server, store_on, Persistence.NONE)
        assert result.lost > 0 and not result.ok, result.describe()
        assert result.lost_per_cycle.count(0) == 0, result.describe()

    def test_rdb_kill_loss_is_reported(self, start_server: StartServer, store_on: StoreOn) -> None:
        result = self._crash(start_server, store_on, Persistence.RDB)
        assert 0 <= result.lost <= result.acknowledged
        assert not (result.duplicated or result.out_of_order or result.torn_batches)

    @pytest.mark.parametrize(
        "persistence", [Persistence.RDB, *[p for p in Persistence if p.is_aof]]
    )
    def test_graceful_restart_keeps_everything(
        self, start_server: StartServer, store_on: StoreOn, persistence: Persistence
    ) -> None:
        data = _msgs(50)
        with start_server(persistence) as server:
            with store_on(server) as store:
                store.append_messages("s", data[:20])
                for m in data[20:]:
                    store.append_message("s", m)
            server.restart()
            with store_on(server) as store:
                assert store.get_history("s", limit=None) == data
