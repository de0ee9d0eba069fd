"""RedisMemoryStore against a real server: what is specific to Redis.

The behaviour every MemoryStore promises (ordering, limits, content, sessions,
compaction, window, TTL, concurrency) is memfix.testing's contract, which
tests/test_contract.py runs against RedisMemoryStore on every server. This file
covers the rest: round trips and commands sent, key layout and cluster slots,
the seed article's wire format, error reports, script and pipeline handling,
faults that must leave no trace, memory per message.

Every test runs on every local server version the run can start (a script
using a command the oldest server lacks fails here); the few heavy ones run on
the oldest and the newest.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from enum import Enum

import pytest
import redis
from redis.crc import key_slot

from memfix import CompactionConflict, Message, RedisMemoryStore, SchemaError, schemas
from memfix.servers import Server, ServerSpec, discover
from memfix.store.keys import KeyLayout, RecentKeys
from tests.article_store import ArticleMessage, ArticleRedisMemoryStore

SPECS = discover(docker=False)
HEAVY = [SPECS[0], SPECS[-1]] if len(SPECS) > 2 else SPECS


@pytest.fixture(params=[pytest.param(s, id=s.id) for s in SPECS])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A fresh server of each local version (overrides conftest's default-only one)."""
    spec: ServerSpec = request.param
    with spec.start() as srv:
        yield srv


@pytest.fixture(params=[pytest.param(s, id=s.id) for s in HEAVY])
def heavy_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The oldest and the newest local server, for the slow tests."""
    spec: ServerSpec = request.param
    with spec.start() as srv:
        yield srv


def msgs(n: int, prefix: str = "m") -> list[Message]:
    return [Message("user" if i % 2 else "assistant", f"{prefix}{i}", 1000.0 + i) for i in range(n)]


def commands_sent(client: redis.Redis) -> dict[str, int]:
    """Per-command call counts from the server's own statistics."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items()}


# -- round trip and ordering -------------------------------------------------


def test_round_trip_keeps_every_field(store: RedisMemoryStore) -> None:
    m = Message("system", "be kind", 1700000000.123, metadata={"model": "m", "n": [1, None]})
    store.append_message("s1", m)
    assert store.get_history("s1") == [m]


def test_timestamps_are_kept_exactly_and_to_the_millisecond_when_pinned(
    store: RedisMemoryStore,
) -> None:
    """1.6 stores the model's float; a store pinned to 1.5 rounds it as 1.5's writer did."""
    message = Message("user", "x", 1700000000.123456, id="a")
    store.append_message("s", message)
    assert store.get_history("s") == [message]
    pinned = RedisMemoryStore(store._client, write_version="1.5")
    pinned.append_message("t", message)
    assert store.get_history("t") == [Message("user", "x", 1700000000.123, id="a")]


def test_a_retried_append_is_stored_once(server: Server, store: RedisMemoryStore) -> None:
    first, second = Message("user", "once", 1.0), Message("user", "twice", 2.0)
    store.append_message("s", first)
    store.append_message("s", first)  # the client timed out and retried
    store.append_messages("s", [first, second, second])
    assert store.get_history("s") == [first, second]
    no_id = Message("user", "anonymous", 3.0, id=None)
    store.append_messages("s", [no_id, no_id])  # without ids nothing can be deduplicated
    assert store.count("s") == 4


def test_a_session_is_one_key(server: Server, store: RedisMemoryStore) -> None:
    """Retries are recognised in the list itself: no companion key, any cluster slot."""
    store.append_messages("user:42", msgs(3))
    store.append_message("a}b", Message("user", "x", 1.0))  # no companion: no slot constraint
    assert sorted(server.client.keys()) == [b"session:a}b:messages", b"session:user:42:messages"]
    assert store.delete_session("user:42") is True
    assert store.delete_session("a}b") is True
    assert server.client.dbsize() == 0


def test_a_negative_limit_is_refused(store: RedisMemoryStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.get_history("s", limit=-1)


def test_append_messages_is_one_command(server: Server, store: RedisMemoryStore) -> None:
    before = commands_sent(server.client)
    store.append_messages("s", msgs(50))
    after = commands_sent(server.client)
    assert after.get("rpush", 0) - before.get("rpush", 0) == 1
    assert store.count("s") == 50
    store.append_messages("s", [])  # nothing to send, nothing sent
    assert store.count("s") == 50


@pytest.mark.parametrize("limit", [None, 0, 1, 3, 100])
def test_get_histories_reads_what_get_history_reads(
    store: RedisMemoryStore, limit: int | None
) -> None:
    for i in range(5):
        store.append_messages(f"s{i}", msgs(i, prefix=f"s{i}-"))
    wanted = ["s4", "s0", "unknown", "s2", "s4"]  # any order, an unknown one, a repeat
    histories = store.get_histories(wanted, limit=limit)
    assert list(histories) == ["s4", "s0", "unknown", "s2"]
    for sid, history in histories.items():
        single = store.get_history(sid, limit=limit)
        assert history == single
        assert (history.first_raw, history.last_raw, history.whole) == (
            single.first_raw,
            single.last_raw,
            single.whole,
        )
    whole = store.get_histories(["s4"], limit=None)["s4"]
    assert store.compact("s4", 1, Message("system", "summary", 9.0), seen=whole) == 3


def test_get_histories_is_one_round_trip_per_chunk(
    server: Server, store: RedisMemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.connection import AbstractConnection

    from memfix.store import redis_store

    for i in range(5):
        store.append_message(f"s{i}", Message("user", f"m{i}", 1.0))
    monkeypatch.setattr(redis_store, "HISTORIES_PER_ROUND_TRIP", 2)
    sent: list[object] = []
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    histories = store.get_histories([f"s{i}" for i in range(5)])
    assert len(sent) == 3  # 5 sessions, 2 per round trip
    assert [h[0].content for h in histories.values()] == [f"m{i}" for i in range(5)]


def test_get_histories_names_the_key_and_index_of_a_bad_record(
    server: Server, store: RedisMemoryStore
) -> None:
    store.append_messages("good", msgs(2))
    store.append_messages("bad", msgs(3))
    server.client.lset("session:bad:messages", 1, b"\x99\xa3not")  # type: ignore[arg-type]
    with pytest.raises(SchemaError) as info:
        store.get_histories(["good", "bad"], limit=None)
    assert (info.value.key, info.value.index) == ("session:bad:messages", 1)
    with pytest.raises(TypeError, match="session id must be a str"):
        store.get_histories(["good", 7])  # type: ignore[list-item]


# -- session ids and their keys ------------------------------------------------


def test_a_session_id_that_is_no_str_is_refused_before_any_write(
    server: Server, store: RedisMemoryStore
) -> None:
    for bad in (7, b"s", ["s"], None):
        for write in (store.append_message, lambda sid, m: store.append_messages(sid, [m])):
            with pytest.raises(TypeError, match="session id must be a str"):
                write(bad, Message("user", "x", 1.0))  # type: ignore[arg-type]
    assert server.client.dbsize() == 0


class Tier(str, Enum):
    A = "A"  # its name is its value: the member hashes and compares as "A"


def test_a_str_subclass_id_gets_the_layouts_key_not_a_remembered_one(
    server: Server, store: RedisMemoryStore
) -> None:
    """The store remembers the keys of recent plain-str ids; a str subclass equal to
    one of them may format otherwise (an Enum member prints as ``Tier.A``)."""
    store.append_message("A", Message("user", "plain", 1.0))
    store.append_message(Tier.A, Message("user", "member", 2.0))
    store.append_messages(Tier.A, [Message("user", "member again", 3.0)])
    plain, member = store.keys.messages("A"), store.keys.messages(Tier.A)
    assert plain != member
    assert server.client.llen(plain) == 1
    assert server.client.llen(member) == 2


def test_remembered_keys_are_bounded_and_always_the_layouts() -> None:
    layout = KeyLayout(prefix="p", suffix="q")
    recent = RecentKeys(layout, size=3)
    ids = [f"s{i}" for i in range(10)] * 2
    assert [recent[sid] for sid in ids] == [layout.messages(sid) for sid in ids]
    assert 0 < len(recent) <= 3


# -- content edge cases -------------------------------------------------------


def test_many_sessions_are_listed_via_scan(heavy_server: Server) -> None:
    store = RedisMemoryStore(heavy_server.client)
    ids = [f"user-{i:04d}" for i in range(1500)] + ["with:colons:inside", "ünï"]
    for sid in ids:
        store.append_message(sid, Message("user", sid, 0.0))
    # Keys that are not memfix sessions are ignored.
    heavy_server.client.set("session:not-a-list:messages", b"x")
    heavy_server.client.rpush("other:thing", b"x")
    before = commands_sent(heavy_server.client)
    assert store.sessions() == sorted(ids)
    after = commands_sent(heavy_server.client)
    assert after.get("scan", 0) > before.get("scan", 0)
    assert after.get("keys", 0) == before.get("keys", 0)


# -- TTL and window -----------------------------------------------------------


def test_sliding_ttl_is_refreshed_by_every_write(server: Server) -> None:
    store = RedisMemoryStore(server.client, ttl=60)
    store.append_message("s", Message("user", "a", 0.0))
    key = store.keys.messages("s")
    assert 59_000 < server.client.pttl(key) <= 60_000
    server.client.pexpire(key, 5_000)
    store.append_messages("s", msgs(2))
    assert server.client.pttl(key) > 59_000


def test_ttl_and_window_append_is_one_round_trip(server: Server) -> None:
    store = RedisMemoryStore(server.client, ttl=30, max_messages=5)
    store.append_message("s", Message("user", "warm the script cache", 0.0))
    before = commands_sent(server.client)
    store.append_message("s", Message("user", "x", 0.0))
    after = commands_sent(server.client)
    sent = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    sent.pop("info", None)
    # The script's inner calls (rpush/pexpire) are counted too; only one was sent by us.
    assert sent.get("evalsha") == 1
    assert "eval" not in sent and "multi" not in sent


@pytest.mark.parametrize("kwargs", [{"ttl": 0}, {"ttl": -1}, {"max_messages": 0}])
def test_bad_options_are_rejected(server: Server, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        RedisMemoryStore(server.client, **kwargs)  # type: ignore[arg-type]


# -- connection handling ------------------------------------------------------


def test_accepts_a_url(server: Server) -> None:
    with RedisMemoryStore(server.url) as store:
        m = Message("user", "via url", 2.0)
        store.append_message("s", m)
        assert store.get_history("s") == [m]


def test_rejects_a_decoding_client(server: Server) -> None:
    client = server.new_client(decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses=False"):
        RedisMemoryStore(client)


# -- the seed article's wire format, both ways ---------------------------------


def test_reads_what_the_article_store_wrote(server: Server, store: RedisMemoryStore) -> None:
    article = ArticleRedisMemoryStore(server.client)
    written = [
        ArticleMessage("user", "hi ✨", 1700000000.5),
        ArticleMessage("assistant", "yo", 1700000001),
    ]
    for m in written:
        article.append_message("legacy", m)
    assert store.get_history("legacy") == [
        Message("user", "hi ✨", 1700000000.5, id=None),
        Message("assistant", "yo", 1700000001.0, id=None),
    ]


def test_article_store_reads_schema_1_0_records(server: Server) -> None:
    """Schema 1.0's wire module writes exactly the article's format (rollback to 1.0 readers)."""
    from memfix.schemas import v1_0

    records = [v1_0.Record("system", "rules", 5.25), v1_0.Record("user", "q", 6.0)]
    server.client.rpush("session:old:messages", *[v1_0.encode(r) for r in records])
    raw = server.client.lrange("session:old:messages", 0, -1)
    assert [json.loads(r) for r in raw] == [
        {"role": "system", "content": "rules", "timestamp": 5.25},
        {"role": "user", "content": "q", "timestamp": 6.0},
    ]
    assert ArticleRedisMemoryStore(server.client).get_history("old") == [
        ArticleMessage("system", "rules", 5.25),
        ArticleMessage("user", "q", 6.0),
    ]


# -- undecodable records --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "version", "reason"),
    [
        (b"\x80\x04\x95pickle", "unknown", "no released schema version"),
        (b'{"role": "robot", "content": "x", "timestamp": 1}', "1.0", "Invalid enum value 'robot'"),
        (b'{"role": "user", "timestamp": 1}', "1.0", "missing required field `content`"),
        # Looks like a current record, so the one-call fast path is tried first; the
        # record-by-record fallback must still name the culprit.
        (b"\x99\xa31.4\xa1x\x07", "1.4", "Invalid enum value 7"),
    ],
    ids=["pickle", "bad-role", "missing-field", "current-version-garbage"],
)
def test_undecodable_record_names_key_index_version_and_bytes(
    server: Server, store: RedisMemoryStore, raw: bytes, version: str, reason: str
) -> None:
    store.append_messages("s", msgs(2))
    server.client.rpush("session:s:messages", raw)
    store.append_messages("s", msgs(1))
    with pytest.raises(SchemaError) as info:
        store.get_history("s")
    err = info.value
    assert (err.key, err.index) == ("session:s:messages", -2)
    assert server.client.lindex("session:s:messages", -2) == raw
    text = str(err)
    assert "'session:s:messages' index -2" in text
    assert f"schema version {version}" in text
    assert reason in text
    assert repr(raw[:20])[:-1] in text


# -- compaction -------------------------------------------------------------------


def test_compact_refuses_when_the_head_moved_since_the_read(server: Server) -> None:
    """Another compaction (or a window trim) after the read, then enough appends to restore
    the length: a length check alone would replace the wrong messages."""
    store = RedisMemoryStore(server.client)
    store.append_messages("s", msgs(10))
    read_by_a, read_by_b = store.get_history("s", limit=None), store.get_history("s", limit=None)
    store.compact("s", keep_last=2, summary=Message("system", "A", 0.0), seen=read_by_a)
    store.append_messages("s", msgs(20, prefix="late"))
    before = store.get_history("s", limit=None)
    with pytest.raises(CompactionConflict, match="moved its head"):
        store.compact("s", keep_last=2, summary=Message("system", "B", 0.0), seen=read_by_b)
    assert store.get_history("s", limit=None) == before
    with pytest.raises(ValueError, match="whole history"):
        store.compact("s", 1, Message("system", "C", 0.0), seen=store.get_history("s", limit=3))


# -- concurrency --------------------------------------------------------------------


def run_threads(n: int, target: object) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_appends_lose_nothing_and_keep_each_writers_order(heavy_server: Server) -> None:
    store = RedisMemoryStore(heavy_server.url)
    writers, per_writer = 8, 500
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for i in range(per_writer):
                store.append_message("shared", Message("user", f"w{w}-{i}", float(i)))
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    run_threads(writers, write)
    assert not errors
    history = store.get_history("shared", limit=None)
    assert len(history) == writers * per_writer
    for w in range(writers):
        mine = [m.content for m in history if m.content.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}" for i in range(per_writer)]


def test_compactions_during_concurrent_appends_lose_nothing(heavy_server: Server) -> None:
    """Every appended message ends up either in the list or named by a summary."""
    store = RedisMemoryStore(heavy_server.url)
    writers, per_writer = 4, 300
    done = threading.Event()
    compactions: list[int] = []

    def write(w: int) -> None:
        for i in range(per_writer):
            store.append_message("s", Message("user", f"w{w}-{i}", 0.0))

    def compactor() -> None:
        while not done.is_set():
            history = store.get_history("s", limit=None)
            if len(history) < 20:
                continue
            head = history[: len(history) - 5]
            folded = [c for m in head for c in m.content.split(",") if c]
            summary = Message("system", ",".join(folded), 0.0)
            compactions.append(store.compact("s", keep_last=5, summary=summary, seen=history))

    c = threading.Thread(target=compactor)
    c.start()
    run_threads(writers, write)
    done.set()
    c.join()

    final = store.get_history("s", limit=None)
    survivors = [c for m in final for c in m.content.split(",") if c]
    expected = {f"w{w}-{i}" for w in range(writers) for i in range(per_writer)}
    assert len(compactions) > 0 and sum(compactions) > 0
    assert sorted(survivors) == sorted(expected)  # none lost, none duplicated
    for w in range(writers):  # and summaries keep each writer's order
        assert [c for c in survivors if c.startswith(f"w{w}-")] == [
            f"w{w}-{i}" for i in range(per_writer)
        ]


def test_large_batch_with_ttl_and_window_is_one_atomic_call(heavy_server: Server) -> None:
    """More records than Lua's unpack() takes at once still go in one script call."""
    store = RedisMemoryStore(heavy_server.client, ttl=60, max_messages=15_000)
    data = msgs(12_000)
    store.append_message("warm", data[0])  # load the script once
    before = commands_sent(heavy_server.client)
    store.append_messages("s", data)
    after = commands_sent(heavy_server.client)
    assert after["evalsha"] - before["evalsha"] == 1
    assert store.count("s") == 12_000
    assert store.get_history("s", limit=None) == data


def test_compact_refuses_copies_and_counts_with_a_window(server: Server) -> None:
    windowed = RedisMemoryStore(server.client, max_messages=5)
    windowed.append_messages("s", msgs(5))
    history = windowed.get_history("s", limit=None)
    summary = Message("system", "S", 0.0)
    with pytest.raises(TypeError, match="History that get_history"):
        windowed.compact("s", 1, summary, seen=list(history))
    with pytest.raises(ValueError, match="unsafe with max_messages"):
        windowed.compact("s", 1, summary, seen=len(history))
    windowed.append_messages("s", msgs(2, prefix="late"))  # the window trims the head
    with pytest.raises(CompactionConflict):
        windowed.compact("s", 1, summary, seen=history)
    assert windowed.count("s") == 5


def test_sub_millisecond_ttl_still_expires(server: Server) -> None:
    store = RedisMemoryStore(server.client, ttl=0.0004)
    store.append_message("s", Message("user", "x", 0.0))
    assert server.client.pttl("session:s:messages") in (-2, 0, 1)  # expiring, never -1


def test_the_largest_options_reach_the_server_as_written(server: Server) -> None:
    """A TTL or window beyond 2**53 must not turn into a Lua float the server refuses
    after the script's first write (Redis 6.2 and 7.0 print 1e17 in exponent form)."""
    huge = 2**63 - 1
    for ttl in ((2**62 - 10_000) / 1000, 1e14 + 1):  # just under the ceiling, and past 1e17 ms
        server.client.flushall()
        store = RedisMemoryStore(server.client, ttl=ttl, max_messages=huge, dedupe_window=huge)
        first = Message("user", "x", 0.0)
        store.append_messages("s", [first, Message("user", "y", 1.0)])
        store.append_message("s", first)  # a retry: looked up with LPOS MAXLEN 2**63-1
        assert [m.content for m in store.get_history("s")] == ["x", "y"]
        history = store.get_history("s", limit=None)
        assert store.compact("s", 1, Message("system", "sum", 2.0), seen=history) == 1
        assert [m.content for m in store.get_history("s")] == ["sum", "y"]
        assert store.compact("s", 0, Message("system", "all", 3.0)) == 2  # blind
        assert server.client.pttl("session:s:messages") > 10**16


def test_stores_share_one_script_per_window_and_any_ttl(server: Server) -> None:
    """A TTL computed per session adds no script on the server; a window does."""
    before = int(server.client.info("memory")["number_of_cached_scripts"])
    for ttl in (60, 61, 3600.5):
        RedisMemoryStore(server.client, ttl=ttl, max_messages=10).append_message(
            "s", Message("user", "x")
        )
    RedisMemoryStore(server.client, max_messages=10).append_message("s", Message("user", "x"))
    RedisMemoryStore(server.client, ttl=60, max_messages=11).append_message(
        "s", Message("user", "x")
    )
    assert int(server.client.info("memory")["number_of_cached_scripts"]) - before == 2


def test_messages_without_an_id_are_never_deduplicated_and_keep_ttl_and_window(
    server: Server,
) -> None:
    """They take APPEND's flagged variant (ARGV[2] says which records carry an id);
    the variant for records that all carry one sends no flags. Both trim and expire."""
    before = int(server.client.info("memory")["number_of_cached_scripts"])
    store = RedisMemoryStore(server.client, ttl=30, max_messages=4)
    a, b = Message("user", "a", 1.0), Message("user", "b", 2.0)
    anon = Message("user", "anon", 3.0, id=None)
    store.append_message("s", a)
    assert int(server.client.info("memory")["number_of_cached_scripts"]) - before == 1
    store.append_message("s", anon)
    store.append_message("s", anon)  # the same bytes, but no id: stored again
    store.append_messages("s", [a, anon, b, b])  # a: retried; anon: stored; b: once
    assert [m.content for m in store.get_history("s")] == ["anon", "anon", "anon", "b"]
    assert 0 < server.client.pttl("session:s:messages") <= 30_000
    store.append_messages("s", [b, a])  # ids only: b is still in the list, a was trimmed
    assert [m.content for m in store.get_history("s")] == ["anon", "anon", "b", "a"]
    assert int(server.client.info("memory")["number_of_cached_scripts"]) - before == 2


@pytest.mark.parametrize("session", ["plain", "{tenant-1}:user-2", "{tenant-1}:user-3"])
def test_the_same_message_in_two_sessions_is_stored_in_both(
    store: RedisMemoryStore, session: str
) -> None:
    m = Message("system", "same message in every session", 1.0, id="same-id")
    store.append_message("other", m)
    store.append_message(session, m)
    assert store.get_history(session) == [m]  # never deduplicated against another session


@pytest.mark.parametrize(
    ("session", "legacy"),
    [
        ("plain", b"{session:plain:messages}:ids"),
        ("{tenant-1}:user-2", b"{tenant-1}:ids:session:{tenant-1}:user-2:messages"),
    ],
)
def test_delete_session_removes_the_id_set_of_older_memfix(
    server: Server, store: RedisMemoryStore, session: str, legacy: bytes
) -> None:
    """Earlier memfix kept each session's ids in a set beside the list (same slot)."""
    store.append_message(session, Message("user", "x", 1.0))
    server.client.sadd(legacy, b"old-id")
    assert key_slot(legacy) == key_slot(f"session:{session}:messages".encode())
    assert store.delete_session(session) is True
    assert server.client.dbsize() == 0


def test_an_unknown_role_is_refused_before_writing(store: RedisMemoryStore) -> None:
    with pytest.raises(
        ValueError, match="role 'robot' is not one of system, user, assistant, tool"
    ):
        store.append_message("s", Message("robot", "beep", 1.0))  # type: ignore[arg-type]
    assert store.count("s") == 0


def test_the_store_survives_a_script_cache_flush(server: Server, store: RedisMemoryStore) -> None:
    store.append_message("s", Message("user", "before", 1.0))
    server.client.script_flush()  # as after a server restart or failover
    store.append_message("s", Message("user", "after", 2.0))
    assert [m.content for m in store.get_history("s")] == ["before", "after"]


def test_appends_can_be_queued_on_a_pipeline(server: Server) -> None:
    data = msgs(3)
    pipe = server.client.pipeline(transaction=False)
    RedisMemoryStore(pipe).append_messages("s", data)
    assert RedisMemoryStore(server.client).count("s") == 0  # only queued so far
    pipe.execute()
    assert RedisMemoryStore(server.client).get_history("s") == data


# -- faults leave no trace ------------------------------------------------------------


@pytest.mark.parametrize("with_id", [True, False], ids=["id", "no-id"])
def test_a_failed_append_leaves_no_trace_and_its_retry_is_stored(
    server: Server, with_id: bool
) -> None:
    """WRONGTYPE on the list key: Redis keeps a script's earlier writes, so a script that
    wrote (an id) before the failing command would make the retry a silent no-op."""
    store = RedisMemoryStore(server.client, ttl=60, max_messages=10)
    m = Message("user", "kept", 1.0) if with_id else Message("user", "kept", 1.0, id=None)
    server.client.set("session:s:messages", b"not a list")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.append_message("s", m)
    assert server.client.keys() == [b"session:s:messages"]
    assert server.client.get("session:s:messages") == b"not a list"  # untouched
    server.client.delete("session:s:messages")  # the operator fixes the key
    store.append_message("s", m)  # the retry
    assert store.get_history("s") == [m]


def test_two_records_that_only_decode_together_are_refused(server: Server) -> None:
    """A truncated record must not borrow the next record's bytes (the one-call decode did).

    Both halves start like current records (the cut is at a binary metadata value
    that itself looks like one), so only a per-record boundary check tells them apart.
    """
    a = schemas.encode_message(Message("user", "a", 1.0, metadata={"b": b"\x99\xa31.4zzzz"}))
    b = schemas.encode_message(Message("user", "b", 2.0))
    cut = a.index(b"\x99\xa31.4", 1)
    server.client.rpush("session:s:messages", a[:cut], a[cut:] + b)
    with pytest.raises(SchemaError) as info:
        RedisMemoryStore(server.client).get_history("s")
    assert (info.value.key, info.value.index) == ("session:s:messages", -2)
    with pytest.raises(SchemaError) as info:
        RedisMemoryStore(server.client).get_history("s", limit=None)
    assert info.value.index == 0


def test_a_blind_compaction_refuses_an_undecodable_head(server: Server) -> None:
    store = RedisMemoryStore(server.client)
    server.client.rpush("session:s:messages", b"\x80\x04\x95pickle")
    store.append_messages("s", msgs(5))
    before = server.client.lrange("session:s:messages", 0, -1)
    with pytest.raises(SchemaError) as info:
        store.compact("s", keep_last=2, summary=Message("system", "S", 0.0))
    assert (info.value.key, info.value.index) == ("session:s:messages", 0)
    assert server.client.lrange("session:s:messages", 0, -1) == before  # nothing dropped


def test_a_blind_compaction_compacts_what_it_read(server: Server) -> None:
    store = RedisMemoryStore(server.client, ttl=60)
    data = msgs(6)
    store.append_messages("s", data)
    summary = Message("system", "S", 0.0)
    assert store.compact("s", keep_last=2, summary=summary) == 4
    assert store.get_history("s") == [summary, *data[-2:]]
    assert server.client.pttl("session:s:messages") > 59_000


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda s: s.get_history("s", limit=10**20), ValueError, "limit must be from 0 to 2**63-1"),
        (lambda s: s.get_history("s", limit=2**63), ValueError, "limit"),
        (lambda s: s.get_history("s", limit=-1), ValueError, "limit"),
        (lambda s: s.get_history("s", limit=1.5), TypeError, "limit must be an int"),
        (lambda s: s.get_history("s", limit="10"), TypeError, "limit must be an int"),
        (lambda s: s.compact("s", 10**20, Message("system", "S", 0.0)), ValueError, "keep_last"),
        (lambda s: s.compact("s", -1, Message("system", "S", 0.0)), ValueError, "keep_last"),
        (lambda s: s.compact("s", 1, Message("system", "S", 0.0), seen=-5), ValueError, "seen"),
        (lambda s: s.compact("s", 1, Message("system", "S", 0.0), seen=True), TypeError, "seen"),
        (lambda s: s.append_message(None, Message("user", "x", 0.0)), TypeError, "session id"),
        (lambda s: s.get_history(b"s"), TypeError, "session id"),
        (lambda s: s.append_messages("s", [{"role": "user"}]), TypeError, "memfix.Message"),
    ],
    ids=[
        "limit-1e20",
        "limit-2**63",
        "limit-negative",
        "limit-float",
        "limit-str",
        "keep-huge",
        "keep-negative",
        "seen-negative",
        "seen-bool",
        "session-none",
        "session-bytes",
        "not-a-message",
    ],
)
def test_absurd_arguments_are_one_line_errors(
    store: RedisMemoryStore, call: object, error: type[Exception], text: str
) -> None:
    store.append_messages("s", msgs(3))
    with pytest.raises(error, match=text.replace("*", r"\*")) as info:
        call(store)  # type: ignore[operator]
    assert "\n" not in str(info.value)
    assert store.count("s") == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl": 1e30},
        {"ttl": float("inf")},
        {"ttl": float("nan")},
        {"ttl": "60"},
        {"max_messages": 10**20},
        {"max_messages": 2.5},
        {"dedupe_window": 0},
    ],
    ids=["ttl-1e30", "ttl-inf", "ttl-nan", "ttl-str", "window-huge", "window-float", "dedupe-0"],
)
def test_absurd_options_are_refused_before_anything_is_written(
    server: Server, kwargs: dict[str, object]
) -> None:
    """A TTL too big for PEXPIRE used to fail inside the script, after its RPUSH."""
    with pytest.raises((ValueError, TypeError)):
        RedisMemoryStore(server.client, **kwargs)  # type: ignore[arg-type]
    assert server.client.dbsize() == 0


def nested(depth: int) -> dict[str, object]:
    """``depth`` levels of containers, dicts and lists in turn, the outermost a dict."""
    value: object = {}
    for level in range(depth - 1, 0, -1):
        value = {"k": value} if level % 2 == 1 else [value]
    assert isinstance(value, dict)
    return value


def test_metadata_the_store_could_not_read_back_is_refused(store: RedisMemoryStore) -> None:
    ok = Message("user", "deep but fine", 1.0, metadata=nested(schemas.MAX_NESTING))
    store.append_message("s", ok)
    assert store.get_history("s") == [ok]
    for depth in (schemas.MAX_NESTING + 1, 100_000):
        with pytest.raises(ValueError, match="nests deeper than"):
            store.append_message("s", Message("user", "x", 1.0, metadata=nested(depth)))
    from memfix.model import ToolCall

    call = ToolCall("c", "f", nested(schemas.MAX_NESTING))
    with pytest.raises(ValueError, match="tool call 'c': arguments nest deeper"):
        store.append_messages(
            "s", [Message("user", "y", 2.0), Message("assistant", "", 3.0, tool_calls=[call])]
        )
    assert store.get_history("s") == [ok]  # nothing of the refused batch was written


def test_a_record_nested_too_deeply_to_decode_is_a_schema_error(server: Server) -> None:
    deep = b"\x99\xa31.4\xc0\x01\xa1x\x01\x81\xa1k" + b"\x91" * 200_000 + b"\xc0\xc0\x90\xc0"
    store = RedisMemoryStore(server.client)
    store.append_messages("s", msgs(2))
    server.client.rpush("session:s:messages", deep)
    with pytest.raises(SchemaError, match="nested too deeply") as info:
        store.get_history("s")
    assert (info.value.key, info.value.index) == ("session:s:messages", -1)


# -- retries and memory ------------------------------------------------------------------


def test_retries_are_recognised_within_the_window_and_nothing_grows(server: Server) -> None:
    store = RedisMemoryStore(server.client, max_messages=5)
    data = msgs(50)
    for m in data:
        store.append_message("s", m)
    for m in data[-5:]:  # every message of the window, retried (alone and in a batch)
        store.append_message("s", m)
    store.append_messages("s", data[-5:])
    assert store.get_history("s") == data[-5:]
    assert server.client.keys() == [b"session:s:messages"]  # no id set beside the list


def test_the_dedupe_window_is_what_the_docstring_says(server: Server) -> None:
    store = RedisMemoryStore(server.client, dedupe_window=3)
    data = msgs(5)
    store.append_messages("s", data)
    store.append_message("s", data[2])  # 3rd newest: recognised
    assert store.count("s") == 5
    store.append_message("s", data[1])  # 4th newest: outside the window, stored again
    assert [m.content for m in store.get_history("s")] == [m.content for m in data] + ["m1"]


def test_a_message_per_message_costs_no_more_memory_than_the_article_store(
    server: Server,
) -> None:
    """MEMORY USAGE of every key of a session, 200-character messages, ids included."""
    text = ("the user asked about redis persistence and the assistant explained it " * 4)[:200]
    data = [Message("user" if i % 2 else "assistant", text, 1.7e9 + i) for i in range(100)]
    article = ArticleRedisMemoryStore(server.client)
    for m in data:
        article.append_message("article", ArticleMessage(m.role, m.content, m.timestamp))
    store = RedisMemoryStore(server.client, ttl=3600, max_messages=500)
    store.append_messages("memfix", data)

    def usage(session: str) -> int:
        keys = list(server.client.scan_iter(match=f"*{session}*"))
        return sum(server.client.memory_usage(k, samples=0) or 0 for k in keys)

    assert usage("memfix") <= usage("article")
