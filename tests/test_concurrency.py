"""The full concurrency run (processes and threads) on the oldest and newest servers.

Plus the proof that the invariants can fail: a store that merges by
read-then-write (the seed article's second way to lose memory) is caught, and
the checkers themselves are exercised on hand-made histories.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import msgspec
import pytest
import redis

from memfix import MemoryStore, Message, RedisMemoryStore
from memfix.servers import Server, ServerSpec
from memfix.testing import (
    RedisStoreFactory,
    Workload,
    check_history,
    check_window,
    run_batch_atomicity,
    run_concurrency,
    summarize,
    tag,
)
from tests.peers import write_report
from tests.test_contract import server_params

FULL = Workload(sessions=2, appenders=4, batchers=2, compactors=2, window_writers=2,
                messages_per_writer=300)  # fmt: skip


@pytest.fixture(params=server_params(heavy=True))
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    spec: ServerSpec = request.param
    with spec.start() as srv:
        yield srv


def test_processes_and_threads_race_on_shared_sessions(server: Server) -> None:
    result = run_concurrency(RedisStoreFactory(server.url), FULL, processes=3, prefix="full")
    write_report(f"concurrency[{server.spec.id}]", result)
    assert result.ok, result.describe()
    assert result.processes == 3 and result.writers == 8
    assert result.messages == 8 * 300
    assert result.compactions > 0 and result.batches > 0, result.describe()
    assert result.window.present == FULL.window
    # TTL refreshes raced too: every session (and its id set) still expires, none has yet.
    keys = list(server.client.scan_iter(match="*full-*"))
    assert keys and all(0 < server.client.pttl(k) <= 300_000 for k in keys)


class ReadModifyWriteStore(MemoryStore):
    """The bug the article describes: read the history, merge in Python, write it back."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def get_history(self, session_id: str, limit: int | None = 100) -> list[Message]:
        raw = self.client.get(f"rmw:{session_id}")
        history = msgspec.json.decode(raw, type=list[Message]) if raw else []
        return history if limit is None else history[-limit:] if limit else []

    def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        merged = [*self.get_history(session_id, limit=None), *msgs]
        self.client.set(f"rmw:{session_id}", msgspec.json.encode(merged))

    def append_message(self, session_id: str, msg: Message) -> None:
        self.append_messages(session_id, [msg])

    def count(self, session_id: str) -> int:
        return len(self.get_history(session_id, limit=None))

    def sessions(self) -> list[str]:
        return sorted(k.decode()[4:] for k in self.client.scan_iter(match="rmw:*"))

    def delete_session(self, session_id: str) -> bool:
        return bool(self.client.delete(f"rmw:{session_id}"))

    def compact(
        self,
        session_id: str,
        keep_last: int,
        summary: Message,
        *,
        seen: Sequence[Message] | int | None = None,
    ) -> int:
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class ReadModifyWriteFactory:
    url: str

    def __call__(self, *, ttl: float | None = None, max_messages: int | None = None) -> MemoryStore:
        if ttl is not None or max_messages is not None:
            raise NotImplementedError("no ttl or window")
        return ReadModifyWriteStore(self.url)


def test_the_harness_catches_a_read_then_write_store(server: Server) -> None:
    """Proof the check can fail: lost updates from a non-atomic merge are counted."""
    w = Workload(sessions=1, appenders=4, batchers=0, compactors=0, window_writers=0,
                 messages_per_writer=100, ttl=None)  # fmt: skip
    result = run_concurrency(ReadModifyWriteFactory(server.url), w, processes=0)
    assert not result.ok
    assert result.check.lost > 0, result.describe()


# -- the checkers on hand-made histories ----------------------------------------------


def m(content: str) -> Message:
    return Message("user", content, 0.0)


def test_check_history_counts_each_kind_of_damage() -> None:
    acked = [tag("a", i) for i in range(5)] + [tag("b", i) for i in range(3)]
    summary = summarize([m("a.0"), m("b.0")])
    history = [summary, m("a.2"), m("a.1"), m("b.1"), m("b.1"), m("x.0"), summarize([m("a.4")])]
    r = check_history(history, acked)
    assert (r.acknowledged, r.present, r.lost) == (8, 6, 2)
    assert r.lost_sample == ["a.3", "b.2"]
    assert (r.duplicated, r.out_of_order, r.unacknowledged, r.misplaced_summaries) == (1, 1, 1, 1)
    assert not r.ok
    assert check_history([summary, m("a.1"), m("b.1")], ["a.0", "a.1", "b.0", "b.1"]).ok


def test_check_window_allows_only_the_oldest_to_go() -> None:
    acked = [tag("a", i) for i in range(6)] + [tag("b", i) for i in range(4)]
    good = [m("a.3"), m("b.2"), m("a.4"), m("b.3"), m("a.5")]
    assert check_window(good, acked, 5).ok
    gap = [m("a.3"), m("b.2"), m("b.3"), m("a.5")]  # a.4 missing
    r = check_window(gap, acked, 5)
    assert r.lost == 1 and r.lost_sample == ["a.4"]
    short = [m("a.4"), m("a.5")]  # b.3 dropped although the window had room
    assert check_window(short, acked, 5).lost == 3


# -- batch atomicity ----------------------------------------------------------------


class OneByOneBatchStore(RedisMemoryStore):
    """A batch written one message per round trip, as langchain and llama-index do."""

    def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        for m in msgs:
            self.append_message(session_id, m)


@dataclass(frozen=True)
class OneByOneFactory:
    url: str

    def __call__(self, *, ttl: float | None = None, max_messages: int | None = None) -> MemoryStore:
        return OneByOneBatchStore(self.url, ttl=ttl, max_messages=max_messages)


def test_atomic_batches_are_never_split(server: Server) -> None:
    result = run_batch_atomicity(RedisStoreFactory(server.url), batches=30)
    assert result.ok and result.split == 0 and result.singles > 0, result.describe()


def test_the_batch_check_catches_a_batch_written_one_message_at_a_time(server: Server) -> None:
    """Proof the check can fail: nothing is lost or reordered, yet turns are split."""
    result = run_batch_atomicity(OneByOneFactory(server.url), batches=30)
    assert result.check.ok and result.singles > 0, result.describe()
    assert result.split > 0 and not result.ok, result.describe()
