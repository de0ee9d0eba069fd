"""``RedisMemoryStore``: conversation memory in Redis lists, atomic and versioned.

One list per session (``session:{id}:messages``), one record per message,
written in the current schema version and read back in any released one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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
from memfix.store.keys import KeyLayout

__all__ = ["History", "RedisMemoryStore"]


class History(list[Message]):
    """What ``get_history`` returns: a list of messages that remembers the raw
    first and last records it was decoded from, so ``compact(seen=history)``
    can check that the session still starts with exactly these messages.
    """

    __slots__ = ("first_raw", "last_raw", "whole")

    def __init__(self, messages: list[Message], raws: list[bytes], *, whole: bool) -> None:
        super().__init__(messages)
        self.first_raw = raws[0] if raws else b""
        self.last_raw = raws[-1] if raws else b""
        self.whole = whole  # the whole list (from index 0), not only its tail


class RedisMemoryStore(MemoryStore):
    """A :class:`MemoryStore` on a Redis (or Valkey) server.

    ``client`` is a ``redis.Redis`` or a ``redis.cluster.RedisCluster`` created with
    ``decode_responses=False`` (records are bytes), or a URL such as
    ``redis://localhost:6379/0`` (a cluster node's URL with ``cluster=True``).
    On a cluster every operation of a session touches keys of one hash slot, and
    ``sessions()`` scans every master.

    ``ttl`` is a sliding expiry: each write to a session pushes its expiry
    back, so idle conversations disappear as a whole (never oldest-turn-first).
    ``max_messages`` keeps only the newest N messages of a session. Both are
    applied inside the same server-side script as the append, so an append
    stays one atomic round trip.

    Appends are idempotent by ``Message.id``: the script remembers each
    session's ids in a companion set (``{session:<id>:messages}:ids``, same
    cluster hash slot) and skips an id it has seen, so a retried append after
    a timeout never stores a message twice. The set expires with the session.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster | str,
        *,
        ttl: float | timedelta | None = None,
        max_messages: int | None = None,
        keys: KeyLayout | None = None,
        cluster: bool = False,
    ) -> None:
        self._client: redis.Redis
        if isinstance(client, str):
            # RedisCluster offers the Redis command API this store uses (typed apart).
            made = RedisCluster.from_url(client) if cluster else redis.Redis.from_url(client)
            self._client = made  # type: ignore[assignment]
            self._owns_client = True
        else:
            if client.get_connection_kwargs().get("decode_responses"):
                raise ValueError(
                    "RedisMemoryStore needs a client with decode_responses=False: "
                    "records are bytes (msgpack in later schema versions)"
                )
            self._client = client  # type: ignore[assignment]
            self._owns_client = False
        self._append_options = append_options(ttl, max_messages)
        self._ttl_ms = int(self._append_options[0])
        self._max_messages = int(self._append_options[1])
        self.keys = keys or KeyLayout()
        self._append = self._client.register_script(_lua.APPEND)
        self._compact = self._client.register_script(_lua.COMPACT)

    @property
    def client(self) -> redis.Redis:
        """The underlying redis-py client."""
        return self._client

    def append_message(self, session_id: str, msg: Message) -> None:
        self._push(session_id, [msg])

    def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        self._push(session_id, list(msgs))

    def _push(self, session_id: str, msgs: list[Message]) -> None:
        if not msgs:
            return
        self._run(
            self._append,
            session_keys(self.keys, session_id),
            append_args(self._append_options, msgs),
        )

    def _run(self, script: Script, keys: list[str], args: list[str | bytes | int]) -> Any:
        """EVALSHA ``script`` on ``keys`` (a session's two keys) with ``args``.

        Called directly rather than through ``Script.__call__``, which costs
        a few microseconds per call on the hottest path; a server that lost
        its script cache (restart, SCRIPT FLUSH) gets it loaded again.
        """
        if isinstance(self._client, redis.client.Pipeline):  # queued: let redis-py load it
            return script(keys=keys, args=args, client=self._client)
        try:
            return self._client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            self._client.script_load(script.script)
            return self._client.evalsha(script.sha, len(keys), *keys, *args)

    def get_history(self, session_id: str, limit: int | None = 100) -> History:
        start = history_start(limit)
        if start is None:
            return History([], [], whole=False)
        key = self.keys.messages(session_id)
        raws: list[bytes] = self._client.lrange(key, start, -1)  # type: ignore[assignment]
        return history_of(key, raws, start)

    def count(self, session_id: str) -> int:
        return int(self._client.llen(self.keys.messages(session_id)))

    def sessions(self) -> list[str]:
        found: set[str] = set()
        for key in self._client.scan_iter(match=self.keys.pattern, count=1000, _type="list"):
            session = self.keys.session_of(key.decode("utf-8", "surrogateescape"))
            if session is not None:
                found.add(session)
        return sorted(found)

    def delete_session(self, session_id: str) -> bool:
        return bool(self._client.unlink(*session_keys(self.keys, session_id)))

    def compact(
        self,
        session_id: str,
        keep_last: int,
        summary: Message,
        *,
        seen: Sequence[Message] | int | None = None,
    ) -> int:
        key = self.keys.messages(session_id)
        args = compact_args(keep_last, seen, summary, self._ttl_ms, self._max_messages)
        replaced = int(self._run(self._compact, session_keys(self.keys, session_id), args))
        return compact_result(key, seen, replaced)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


# -- arguments and results, shared with AsyncRedisMemoryStore (same scripts) ------------


def session_keys(keys: KeyLayout, session_id: str) -> list[str]:
    """The messages list and its id set: one hash slot, so cluster-safe."""
    return [keys.messages(session_id), keys.companion(session_id, "ids")]


def append_options(ttl: float | timedelta | None, max_messages: int | None) -> list[bytes]:
    """The fixed leading arguments of the APPEND script (ttl ms, window), validated."""
    if isinstance(ttl, timedelta):
        ttl = ttl.total_seconds()
    if ttl is not None and ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl}")
    if max_messages is not None and max_messages <= 0:
        raise ValueError(f"max_messages must be positive, got {max_messages}")
    # Never round a positive TTL down to 0, which the scripts read as "no TTL".
    ttl_ms = max(1, math.ceil(ttl * 1000)) if ttl is not None else 0
    return [str(ttl_ms).encode(), str(max_messages or 0).encode()]


def append_args(options: list[bytes], msgs: Sequence[Message]) -> list[str | bytes | int]:
    """APPEND's arguments: ``options``, then (id, record) per message."""
    args: list[str | bytes | int] = [*options]
    for m in msgs:
        args += [m.id or "", schemas.encode_message(m)]
    return args


def history_start(limit: int | None) -> int | None:
    """The LRANGE start for ``get_history(limit)``; ``None`` when nothing is asked for."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    if limit == 0:
        return None
    return 0 if limit is None else -limit


def history_of(key: str, raws: list[bytes], start: int) -> History:
    """The :class:`History` of the records LRANGE ``start`` -1 returned."""
    messages = decode_records(key, raws, negative_index=start < 0)
    return History(messages, raws, whole=start == 0 or len(raws) < -start)


def compact_args(
    keep_last: int,
    seen: Sequence[Message] | int | None,
    summary: Message,
    ttl_ms: int,
    max_messages: int,
) -> list[str | bytes | int]:
    """COMPACT's arguments, after checking that ``seen`` can prove what was read."""
    if keep_last < 0:
        raise ValueError(f"keep_last must be >= 0, got {keep_last}")
    count = -1 if seen is None else seen if isinstance(seen, int) else len(seen)
    args: list[str | bytes | int] = [keep_last, count, schemas.encode_message(summary), ttl_ms]
    if isinstance(seen, History):
        if not seen.whole:
            raise ValueError(
                "compact(seen=history) needs the whole history: get_history(session_id, limit=None)"
            )
        args += [seen.first_raw, seen.last_raw]
    elif seen is not None and not isinstance(seen, int):
        raise TypeError(
            "compact(seen=...) takes the History that get_history(limit=None) returned "
            "(a copy or slice cannot prove the head is unchanged) or a count"
        )
    elif isinstance(seen, int) and max_messages:
        raise ValueError(
            "compact(seen=<count>) is unsafe with max_messages (a window trim moves the "
            "head); pass the History that get_history(limit=None) returned"
        )
    return args


def compact_result(key: str, seen: Sequence[Message] | int | None, replaced: int) -> int:
    """COMPACT's reply: how many were replaced, or :class:`CompactionConflict`."""
    if replaced < 0:
        count = seen if isinstance(seen, int) else len(seen or ())
        raise CompactionConflict(
            f"key {key!r}: the session no longer starts with the {count} messages "
            "that were read; another compaction or a window trim moved its head: "
            "re-read and retry"
        )
    return replaced


def decode_records(key: str, raws: list[bytes], *, negative_index: bool = False) -> list[Message]:
    """Decode one list's records, naming key and index when one fails.

    Indices are reported as Redis addresses them (negative when the records
    are the tail of the list), so ``LINDEX key <index>`` shows the culprit.
    """
    try:
        return schemas.decode_records(raws)
    except SchemaError as exc:
        i = exc.index or 0
        raise exc.located(key, i - len(raws) if negative_index else i) from None
