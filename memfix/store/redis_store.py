"""``RedisMemoryStore``: conversation memory in Redis lists, atomic and versioned.

One list per session (``session:{id}:messages``), one record per message,
written in the current schema version and read back in any released one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from memfix import schemas
from memfix.errors import CompactionConflict, SchemaError
from memfix.model import Message
from memfix.store import _lua
from memfix.store.base import MemoryStore
from memfix.store.keys import KeyLayout, RecentKeys

__all__ = [
    "BLIND_ATTEMPTS",
    "DEFAULT_DEDUPE_WINDOW",
    "HISTORIES_PER_ROUND_TRIP",
    "History",
    "RedisMemoryStore",
    "StoreOptions",
    "append_args",
    "check_client",
    "check_count",
    "compact_request",
    "compact_result",
    "decode_records",
    "histories_of",
    "histories_request",
    "history_of",
    "history_start",
]

#: How many of a session's newest records a retried append is looked up in.
DEFAULT_DEDUPE_WINDOW = 100
_MAX_INT64 = 2**63 - 1
#: PEXPIRE adds the TTL to the server's clock in a signed 64-bit millisecond count.
_MAX_TTL_MS = 2**62
BLIND_ATTEMPTS = 5
#: EVALSHA's key count, as bytes: redis-py's pure-Python packer (the default without
#: hiredis) encodes each int or str argument in Python, ~150 ns apiece per call.
_NUMKEYS = b"1"
#: How many sessions ``get_histories`` reads per pipeline (bounds the commands of one
#: round trip; with ``limit=None`` a reply still holds those sessions' whole lists).
HISTORIES_PER_ROUND_TRIP = 200


class History(list[Message]):
    """What ``get_history`` returns: a list of messages that remembers the raw
    first and last records it was decoded from, so ``compact(seen=history)``
    can check that the session still starts with exactly these messages.
    """

    __slots__ = ("first_raw", "last_raw", "whole")

    def __init__(self, messages: Iterable[Message], raws: list[bytes], *, whole: bool) -> None:
        super().__init__(messages)
        self.first_raw = raws[0] if raws else b""
        self.last_raw = raws[-1] if raws else b""
        self.whole = whole  # the whole list (from index 0), not only its tail

    @classmethod
    def _to_fill(cls, raws: list[bytes], *, whole: bool) -> History:
        """An empty History of ``raws`` that ``decode_records`` fills in place: no
        Python ``__init__`` and no copy of a finished list (2 us of get_history(100))."""
        history = list.__new__(cls)
        history.first_raw = raws[0] if raws else b""
        history.last_raw = raws[-1] if raws else b""
        history.whole = whole
        return history


class RedisMemoryStore(MemoryStore):
    """A :class:`MemoryStore` on a Redis (or Valkey) server.

    ``client`` is a ``redis.Redis`` created with ``decode_responses=False``
    (records are bytes) or a URL such as ``redis://localhost:6379/0``.

    ``ttl`` is a sliding expiry: each write to a session pushes its expiry
    back, so idle conversations disappear as a whole (never oldest-turn-first).
    ``max_messages`` keeps only the newest N messages of a session. Both are
    applied inside the same server-side script as the append, so an append
    stays one atomic round trip. ``max_messages`` and ``dedupe_window`` are
    written into that script's text (nothing to parse per call): each distinct
    pair is one script on the server (about 4 KB; a second variant once a message
    without an id is appended), shared by every store that uses it, and loaded
    by the first append that needs it. The TTL is an
    argument, so a TTL computed per session costs nothing on the server.

    Retried appends are deduplicated: a client that timed out and resends the
    same ``Message`` (same id, hence the same stored bytes) does not store it
    twice, as long as the first copy is among the session's newest
    ``dedupe_window`` records (default 100; with ``max_messages`` the list never
    holds more than that window, so the whole window is covered). The lookup
    runs in the list itself (``LPOS ... MAXLEN dedupe_window``): no id set is
    kept, so deduplication costs no memory per message and nothing grows
    without bound. A message rebuilt with the same id but other content or
    timestamp is a different message and is stored; messages with
    ``id=None`` are never deduplicated. Sessions written by memfix before this
    change may still hold an id set (``{session:<id>:messages}:ids``): it is
    no longer read or written, and ``delete_session`` removes it.

    ``write_version`` pins the schema version written (default: the current
    one); reads always accept every released version. A message the pinned
    version cannot hold losslessly raises ``ValueError`` before any write (pinned
    to a version before 1.6, a timestamp is rounded to the millisecond, as those
    releases stored it).
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster | str,
        *,
        ttl: float | timedelta | None = None,
        max_messages: int | None = None,
        keys: KeyLayout | None = None,
        dedupe_window: int = DEFAULT_DEDUPE_WINDOW,
        write_version: str | None = None,
        cluster: bool = False,
    ) -> None:
        opts = StoreOptions.of(ttl, max_messages, dedupe_window, write_version)
        self._client: redis.Redis
        if isinstance(client, str):
            # RedisCluster offers the Redis command API this store uses (typed apart).
            made = RedisCluster.from_url(client) if cluster else redis.Redis.from_url(client)
            self._client = made  # type: ignore[assignment]
            self._owns_client = True
        else:
            check_client(client, type(self).__name__)
            self._client = client  # type: ignore[assignment]
            self._owns_client = False
        self._ttl_ms, self._max_messages, self._encode = opts.ttl_ms, opts.max_messages, opts.encode
        self._ttl_arg = opts.ttl_arg
        self._keys = keys or KeyLayout()
        self._recent = RecentKeys(self._keys)
        self._append = self._client.register_script(opts.append_script)
        self._append_sha = self._append.sha.encode()  # pre-encoded: see _NUMKEYS
        self._append_flagged = self._client.register_script(opts.flagged_append_script)
        self._compact = self._client.register_script(_lua.COMPACT)
        # A pipeline only queues: let redis-py's Script load the script at execute().
        self._queued = isinstance(self._client, redis.client.Pipeline)

    @property
    def client(self) -> redis.Redis:
        """The underlying redis-py client."""
        return self._client

    @property
    def keys(self) -> KeyLayout:
        """Where sessions live in the keyspace (fixed for the store's life: the
        keys of recent sessions are remembered)."""
        return self._keys

    def append_message(self, session_id: str, msg: Message) -> None:
        # append_args() and _run(), inlined: this is the hottest write path.
        record = self._encode(msg)  # first: it type-checks the message
        key = (  # remembered for a plain str (not for a subclass or a non-str: RecentKeys)
            self._recent[session_id] if type(session_id) is str else self._keys.messages(session_id)
        )
        if msg.id is None:  # never deduplicated: the variant that flags each record
            self._run(self._append_flagged, key, [self._ttl_arg, b"0", record])
            return
        if self._queued:
            self._append(keys=[key], args=[self._ttl_arg, record], client=self._client)
            return
        try:
            self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._append_sha, _NUMKEYS, key, self._ttl_arg, record
            )
        except NoScriptError:
            self._client.script_load(self._append.script)
            self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._append_sha, _NUMKEYS, key, self._ttl_arg, record
            )

    def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        batch = list(msgs)
        if batch:
            flagged, args = append_args(self._ttl_arg, batch, self._encode)
            key = (  # as in append_message
                self._recent[session_id]
                if type(session_id) is str
                else self._keys.messages(session_id)
            )
            self._run(self._append_flagged if flagged else self._append, key, args)

    def _run(self, script: Script, key: str, args: list[bytes]) -> Any:
        """EVALSHA ``script`` on the session's messages ``key`` with ``args``.

        Called through ``execute_command`` rather than ``Script.__call__`` or
        ``evalsha``, which cost microseconds per call on the hottest path; a
        server that lost its script cache (restart, SCRIPT FLUSH) gets it
        loaded again.
        """
        if self._queued:
            return script(keys=[key], args=args, client=self._client)
        try:
            return self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", script.sha, _NUMKEYS, key, *args
            )
        except NoScriptError:
            self._client.script_load(script.script)
            return self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", script.sha, _NUMKEYS, key, *args
            )

    def get_history(self, session_id: str, limit: int | None = 100) -> History:
        key = self._keys.messages(session_id)  # a bad id is refused whatever the limit
        start = history_start(limit)
        if start is None:
            return History([], [], whole=False)
        raws: list[bytes] = self._client.lrange(key, start, -1)  # type: ignore[assignment]
        return history_of(key, raws, start)

    def get_histories(
        self, session_ids: Iterable[str], limit: int | None = 100
    ) -> dict[str, History]:
        """``get_history(sid, limit)`` of many sessions, in one round trip per
        :data:`HISTORIES_PER_ROUND_TRIP` sessions (a pipeline of ``LRANGE``, not a
        transaction: each history is what ``get_history`` would have read).

        For reading a whole keyspace (exports, migrations, golden views) where a
        round trip per session dominates. A record that does not decode raises
        :class:`SchemaError` naming its key and index, as ``get_history`` does.
        On a cluster each pipeline costs a round trip per master it touches; on a
        store whose client is itself a pipeline, the reads run at once on a
        pipeline of their own (they do not see what is queued).
        """
        start, chunks, out = histories_request(self._keys, session_ids, limit)
        for chunk in chunks:
            pipe = self._client.pipeline(transaction=False)
            for _, key in chunk:
                pipe.lrange(key, start, -1)
            out.update(histories_of(chunk, pipe.execute(), start))
        return out

    def count(self, session_id: str) -> int:
        return int(self._client.llen(self._keys.messages(session_id)))

    def sessions(self) -> list[str]:
        found: set[str] = set()
        for key in self._client.scan_iter(match=self._keys.pattern, count=1000, _type="list"):
            session = self._keys.session_of(key.decode("utf-8", "surrogateescape"))
            if session is not None:
                found.add(session)
        return sorted(found)

    def delete_session(self, session_id: str) -> bool:
        key = self._keys.messages(session_id)
        try:  # the id set memfix kept before deduplicating in the list itself
            legacy = [self._keys.companion(session_id, "ids")]
        except ValueError:  # a session id no cluster slot could share with a companion
            legacy = []
        return bool(self._client.unlink(key, *legacy))

    def compact(
        self,
        session_id: str,
        keep_last: int,
        summary: Message,
        *,
        seen: Sequence[Message] | int | None = None,
    ) -> int:
        """See :meth:`MemoryStore.compact`.

        Without ``seen`` (a blind compaction), the store first reads and decodes
        the whole session and then compacts exactly what it read, as with
        ``seen=history``: a record that no released schema decodes raises
        :class:`SchemaError` naming key and index instead of being dropped
        unread into a summary that cannot mention it. Messages appended
        meanwhile are kept; if the head moved (a window trim, another
        compaction) the read is retried a few times, then
        :class:`CompactionConflict` is raised.
        """
        check_count("keep_last", keep_last)
        if seen is not None:
            return self._compact_seen(session_id, keep_last, summary, seen)
        for attempt in range(BLIND_ATTEMPTS):
            try:
                history = self.get_history(session_id, limit=None)
                return self._compact_seen(session_id, keep_last, summary, history)
            except CompactionConflict:
                if attempt == BLIND_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _compact_seen(
        self, session_id: str, keep_last: int, summary: Message, seen: Sequence[Message] | int
    ) -> int:
        key = self._keys.messages(session_id)
        count, args = compact_request(
            keep_last, seen, summary, self._ttl_ms, self._max_messages, self._encode
        )
        return compact_result(key, count, int(self._run(self._compact, key, args)))

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


# -- arguments and results, shared with any other store class on these scripts --------


def check_count(name: str, value: object, *, low: int = 0) -> None:
    """A plain int that a Redis command argument can carry (no bool, no float)."""
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not low <= value <= _MAX_INT64:
        raise ValueError(f"{name} must be from {low} to 2**63-1, got {value}")


@dataclass(frozen=True)
class StoreOptions:
    """A store's options, validated once, before it connects; the sync and the async
    store read them from here so they cannot mean different things.

    Validating here, not in the scripts, is what keeps a bad option from failing
    inside a script after its RPUSH has already been applied.
    """

    ttl_ms: int  # 0: no TTL
    max_messages: int  # 0: no window
    dedupe_window: int
    #: Two-phase release: read every released version, write a pinned older one
    #: until no process of the previous release remains (docs/releasing.md).
    encode: Callable[[Message], bytes]

    @classmethod
    def of(
        cls,
        ttl: float | timedelta | None,
        max_messages: int | None,
        dedupe_window: int,
        write_version: str | None,
    ) -> StoreOptions:
        if isinstance(ttl, timedelta):
            ttl = ttl.total_seconds()
        ttl_ms = 0
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
                raise TypeError(f"ttl must be seconds (a number) or a timedelta, got {ttl!r}")
            if not 0 < ttl < _MAX_TTL_MS / 1000:  # also refuses nan and inf
                raise ValueError(f"ttl must be positive and finite (seconds), got {ttl}")
            # Never round a positive TTL down to 0, which the scripts read as "no TTL".
            ttl_ms = max(1, math.ceil(ttl * 1000))
        if max_messages is not None:
            check_count("max_messages", max_messages, low=1)
        check_count("dedupe_window", dedupe_window, low=1)  # LPOS reads MAXLEN 0 as "all"
        encode = schemas.message_encoder(write_version)
        return cls(ttl_ms, max_messages or 0, dedupe_window, encode)

    @property
    def append_script(self) -> str:
        """The APPEND script with the window and dedupe depth in its text, for
        records that all carry a message id (:func:`memfix.store._lua.append_script`)."""
        return _lua.append_script(self.max_messages, self.dedupe_window)

    @property
    def flagged_append_script(self) -> str:
        """APPEND for a batch holding a message without an id (ARGV[2] flags each record)."""
        return _lua.append_script(self.max_messages, self.dedupe_window, flagged=True)

    @property
    def ttl_arg(self) -> bytes:
        """APPEND's first argument: the TTL in milliseconds, ``b"0"`` for none."""
        return str(self.ttl_ms).encode()


def check_client(client: Any, store: str) -> None:
    """Records are bytes: a client that decodes responses into str cannot read them."""
    if client.get_connection_kwargs().get("decode_responses"):
        raise ValueError(
            f"{store} needs a client with decode_responses=False: "
            "records are bytes (msgpack in later schema versions)"
        )


def append_args(
    ttl_arg: bytes,
    msgs: Sequence[Message],
    encode: Callable[[Message], bytes] = schemas.encode_message,
) -> tuple[bool, list[bytes]]:
    """Whether the batch needs the flagged APPEND (a message without an id), and the
    arguments: the TTL (:attr:`StoreOptions.ttl_arg`), the flags if so, the records.

    Every message is encoded (and so validated) before anything is sent.
    """
    records = [encode(m) for m in msgs]  # first: it type-checks each message
    if None not in [m.id for m in msgs]:  # (a list and a C scan: no generator per message)
        return False, [ttl_arg, *records]
    return True, [ttl_arg, bytes(48 if m.id is None else 49 for m in msgs), *records]


def compact_request(
    keep_last: int,
    seen: Sequence[Message] | int,
    summary: Message,
    ttl_ms: int,
    max_messages: int,
    encode: Callable[[Message], bytes] = schemas.encode_message,
) -> tuple[int, list[bytes]]:
    """How many records ``seen`` covers, and COMPACT's arguments; refuses, before any
    write, a ``seen`` that cannot prove the head is unchanged."""
    check_count("keep_last", keep_last)
    if isinstance(seen, History):
        if not seen.whole:
            raise ValueError(
                "compact(seen=history) needs the whole history: get_history(session_id, limit=None)"
            )
        tail = [seen.first_raw, seen.last_raw]
        count = len(seen)
    elif isinstance(seen, int) and not isinstance(seen, bool):
        check_count("seen", seen)
        if max_messages:
            raise ValueError(
                "compact(seen=<count>) is unsafe with max_messages (a window trim moves the "
                "head); pass the History that get_history(limit=None) returned"
            )
        tail = []
        count = seen
    else:
        raise TypeError(
            "compact(seen=...) takes the History that get_history(limit=None) returned "
            "(a copy or slice cannot prove the head is unchanged) or a count"
        )
    return count, [
        str(keep_last).encode(),
        str(count).encode(),
        encode(summary),
        str(ttl_ms).encode(),
        *tail,
    ]


def compact_result(key: str, count: int, replaced: int) -> int:
    """COMPACT's answer: how many records were replaced, or CompactionConflict."""
    if replaced < 0:
        raise CompactionConflict(
            f"key {key!r}: the session no longer starts with the {count} messages "
            "that were read; another compaction or a window trim moved its head: "
            "re-read and retry"
        )
    return replaced


def history_start(limit: int | None) -> int | None:
    """The LRANGE start for ``get_history(limit)``; ``None`` when nothing is asked for."""
    if limit is None:
        return 0
    check_count("limit", limit)
    if limit == 0:
        return None
    return -limit


def histories_request(
    keys: KeyLayout, session_ids: Iterable[str], limit: int | None
) -> tuple[int, list[list[tuple[str, str]]], dict[str, History]]:
    """``get_histories``' LRANGE start, its (session, key) pairs in one list per
    pipeline, and the answer so far: when nothing is asked for (``limit=0``),
    every session's empty history and no pairs."""
    start = history_start(limit)
    pairs = list({sid: keys.messages(sid) for sid in session_ids}.items())  # validates each id
    if start is None:
        return 0, [], {sid: History([], [], whole=False) for sid, _ in pairs}
    step = HISTORIES_PER_ROUND_TRIP
    return start, [pairs[i : i + step] for i in range(0, len(pairs), step)], {}


def histories_of(
    chunk: list[tuple[str, str]], replies: list[list[bytes]], start: int
) -> dict[str, History]:
    """The histories of one ``get_histories`` pipeline's LRANGE replies."""
    return {
        sid: history_of(key, raws, start) for (sid, key), raws in zip(chunk, replies, strict=True)
    }


def history_of(key: str, raws: list[bytes], start: int) -> History:
    """The :class:`History` of the records ``LRANGE key start -1`` returned."""
    history = History._to_fill(raws, whole=start == 0 or len(raws) < -start)
    decode_records(key, raws, negative_index=start < 0, into=history)
    return history


def decode_records(
    key: str,
    raws: list[bytes],
    *,
    negative_index: bool = False,
    into: list[Message] | None = None,
) -> list[Message]:
    """Decode one list's records (appended to ``into`` when given), naming key and
    index when one fails.

    Indices are reported as Redis addresses them (negative when the records
    are the tail of the list), so ``LINDEX key <index>`` shows the culprit.
    """
    try:
        return schemas.decode_records(raws, into)
    except SchemaError as exc:
        i = exc.index or 0
        raise exc.located(key, i - len(raws) if negative_index else i) from None
