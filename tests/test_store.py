"""RedisMemoryStore against a real server: what is specific to Redis.

The behaviour every MemoryStore promises (ordering, limits, content, sessions,
compaction, window, TTL, concurrency) is memfix.testing's contract, which
tests/test_contract.py runs against RedisMemoryStore on every server. This file
covers the rest: round trips and commands sent, key layout and cluster slots,
the seed article's wire format, error reports, script and pipeline handling.
"""

from __future__ import annotations

import json
import threading

import pytest
import redis
from redis.crc import key_slot

from memfix import CompactionConflict, Message, RedisMemoryStore, SchemaError
from memfix.servers import Server
from tests.article_store import ArticleMessage, ArticleRedisMemoryStore


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


def test_timestamps_are_kept_to_the_millisecond(store: RedisMemoryStore) -> None:
    store.append_message("s", Message("user", "x", 1700000000.123456, id="a"))
    assert store.get_history("s") == [Message("user", "x", 1700000000.123, id="a")]


def test_a_retried_append_is_stored_once(server: Server, store: RedisMemoryStore) -> None:
    first, second = Message("user", "once", 1.0), Message("user", "twice", 2.0)
    store.append_message("s", first)
    store.append_message("s", first)  # the client timed out and retried
    store.append_messages("s", [first, second, second])
    assert store.get_history("s") == [first, second]
    no_id = Message("user", "anonymous", 3.0, id=None)
    store.append_messages("s", [no_id, no_id])  # without ids nothing can be deduplicated
    assert store.count("s") == 4


def test_session_keys_share_one_cluster_slot(server: Server, store: RedisMemoryStore) -> None:
    store.append_message("user:42", Message("user", "x", 1.0))
    keys = sorted(server.client.keys())
    assert keys == [b"session:user:42:messages", b"{session:user:42:messages}:ids"]
    assert len({key_slot(k) for k in keys}) == 1
    assert store.delete_session("user:42") is True
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


# -- content edge cases -------------------------------------------------------


def test_many_sessions_are_listed_via_scan(server: Server, store: RedisMemoryStore) -> None:
    ids = [f"user-{i:04d}" for i in range(1500)] + ["with:colons:inside", "ünï"]
    for sid in ids:
        store.append_message(sid, Message("user", sid, 0.0))
    # Keys that are not memfix sessions are ignored.
    server.client.set("session:not-a-list:messages", b"x")
    server.client.rpush("other:thing", b"x")
    before = commands_sent(server.client)
    assert store.sessions() == sorted(ids)
    after = commands_sent(server.client)
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
    assert server.client.lindex("session:s:messages", err.index) == raw
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


def test_concurrent_appends_lose_nothing_and_keep_each_writers_order(server: Server) -> None:
    store = RedisMemoryStore(server.url)
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


def test_compactions_during_concurrent_appends_lose_nothing(server: Server) -> None:
    """Every appended message ends up either in the list or named by a summary."""
    store = RedisMemoryStore(server.url)
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


def test_large_batch_with_ttl_and_window_is_one_atomic_call(server: Server) -> None:
    """More records than Lua's unpack() takes at once still go in one script call."""
    store = RedisMemoryStore(server.client, ttl=60, max_messages=15_000)
    data = msgs(12_000)
    store.append_message("warm", data[0])  # load the script once
    before = commands_sent(server.client)
    store.append_messages("s", data)
    after = commands_sent(server.client)
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


@pytest.mark.parametrize(
    ("session", "companion"),
    [
        ("plain", b"{session:plain:messages}:ids"),
        ("{tenant-1}:user-2", b"{tenant-1}:ids:session:{tenant-1}:user-2:messages"),
        ("{tenant-1}:user-3", b"{tenant-1}:ids:session:{tenant-1}:user-3:messages"),
        ("open{brace", b"{session:open{brace:messages}:ids"),
    ],
)
def test_companion_keys_are_per_session_and_in_the_same_slot(
    server: Server, store: RedisMemoryStore, session: str, companion: bytes
) -> None:
    m = Message("system", "same message in every session", 1.0, id="same-id")
    store.append_message(session, m)
    assert store.get_history(session) == [m]  # never deduplicated against another session
    messages_key = f"session:{session}:messages".encode()
    assert server.client.exists(companion) == 1
    assert key_slot(companion) == key_slot(messages_key)


def test_a_session_id_that_cannot_share_a_slot_is_refused(store: RedisMemoryStore) -> None:
    with pytest.raises(ValueError, match="hash tag"):
        store.append_message("a}b", Message("user", "x", 1.0))


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
