"""``AsyncRedisMemoryStore``: the same store for asyncio code (redis.asyncio).

Same keys, same Lua scripts (``memfix.store._lua``), same argument building and
decoding (the module-level functions of ``redis_store``): only the I/O is awaited,
so the two stores cannot drift apart in what they write or how they read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from memfix.errors import CompactionConflict
from memfix.model import Message
from memfix.store import _lua
from memfix.store.keys import KeyLayout
from memfix.store.redis_store import (
    BLIND_ATTEMPTS,
    DEFAULT_DEDUPE_WINDOW,
    History,
    StoreOptions,
    append_args,
    check_client,
    check_count,
    compact_request,
    compact_result,
    histories_of,
    histories_request,
    history_of,
    history_start,
)

__all__ = ["AsyncRedisMemoryStore"]


class AsyncRedisMemoryStore:
    """:class:`memfix.RedisMemoryStore` with every method a coroutine.

    ``client`` is a ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``
    (``decode_responses=False``), or a URL (a cluster node's with ``cluster=True``);
    from a URL, up to 100 connections are opened and further concurrent calls wait.
    Options and guarantees are those of :class:`memfix.RedisMemoryStore`.
    """

    def __init__(
        self,
        client: aioredis.Redis | AsyncRedisCluster | str,
        *,
        ttl: float | timedelta | None = None,
        max_messages: int | None = None,
        keys: KeyLayout | None = None,
        dedupe_window: int = DEFAULT_DEDUPE_WINDOW,
        write_version: str | None = None,
        cluster: bool = False,
    ) -> None:
        opts = StoreOptions.of(ttl, max_messages, dedupe_window, write_version)
        self._ttl_ms, self._max_messages, self._encode = opts.ttl_ms, opts.max_messages, opts.encode
        self._ttl_arg = opts.ttl_arg
        self._client: aioredis.Redis
        if isinstance(client, str):
            if cluster:
                self._client = AsyncRedisCluster.from_url(client)  # type: ignore[assignment]
            else:  # more concurrent calls than connections wait for one instead of failing
                pool = aioredis.BlockingConnectionPool.from_url(client, max_connections=100)
                self._client = aioredis.Redis.from_pool(pool)
            self._owns_client = True
        else:
            check_client(client, type(self).__name__)
            self._client = client  # type: ignore[assignment]
            self._owns_client = False
        self._keys = keys or KeyLayout()
        self._append: AsyncScript = self._client.register_script(opts.append_script)
        self._append_flagged: AsyncScript = self._client.register_script(opts.flagged_append_script)
        self._compact: AsyncScript = self._client.register_script(_lua.COMPACT)

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    @property
    def keys(self) -> KeyLayout:
        """Where sessions live in the keyspace (fixed for the store's life, as in
        :class:`memfix.RedisMemoryStore`)."""
        return self._keys

    async def append_message(self, session_id: str, msg: Message) -> None:
        await self.append_messages(session_id, [msg])

    async def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        batch = list(msgs)
        if batch:
            flagged, args = append_args(self._ttl_arg, batch, self._encode)
            script = self._append_flagged if flagged else self._append
            await self._run(script, self._keys.messages(session_id), args)

    async def _run(self, script: AsyncScript, key: str, args: list[bytes]) -> Any:
        try:
            return await self._client.evalsha(script.sha, 1, key, *args)
        except NoScriptError:
            await self._client.script_load(script.script)
            return await self._client.evalsha(script.sha, 1, key, *args)

    async def get_history(self, session_id: str, limit: int | None = 100) -> History:
        key = self._keys.messages(session_id)  # a bad id is refused whatever the limit
        start = history_start(limit)
        if start is None:
            return History([], [], whole=False)
        raws: list[bytes] = await self._client.lrange(key, start, -1)  # type: ignore[assignment]
        return history_of(key, raws, start)

    async def get_histories(
        self, session_ids: Iterable[str], limit: int | None = 100
    ) -> dict[str, History]:
        """See :meth:`memfix.RedisMemoryStore.get_histories`."""
        start, chunks, out = histories_request(self._keys, session_ids, limit)
        for chunk in chunks:
            pipe = self._client.pipeline(transaction=False)
            for _, key in chunk:
                pipe.lrange(key, start, -1)
            out.update(histories_of(chunk, await pipe.execute(), start))
        return out

    async def count(self, session_id: str) -> int:
        return int(await self._client.llen(self._keys.messages(session_id)))

    async def sessions(self) -> list[str]:
        """Every session id, from a SCAN of every master on a cluster."""
        found: set[str] = set()
        async for key in self._client.scan_iter(match=self._keys.pattern, count=1000, _type="list"):
            session = self._keys.session_of(key.decode("utf-8", "surrogateescape"))
            if session is not None:
                found.add(session)
        return sorted(found)

    async def delete_session(self, session_id: str) -> bool:
        key = self._keys.messages(session_id)
        try:  # the id set memfix kept before deduplicating in the list itself
            legacy = [self._keys.companion(session_id, "ids")]
        except ValueError:  # a session id no cluster slot could share with a companion
            legacy = []
        return bool(await self._client.unlink(key, *legacy))

    async def compact(
        self,
        session_id: str,
        keep_last: int,
        summary: Message,
        *,
        seen: Sequence[Message] | int | None = None,
    ) -> int:
        """See :meth:`memfix.RedisMemoryStore.compact` (a blind compaction reads first)."""
        check_count("keep_last", keep_last)
        if seen is not None:
            return await self._compact_seen(session_id, keep_last, summary, seen)
        for attempt in range(BLIND_ATTEMPTS):
            try:
                history = await self.get_history(session_id, limit=None)
                return await self._compact_seen(session_id, keep_last, summary, history)
            except CompactionConflict:
                if attempt == BLIND_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _compact_seen(
        self, session_id: str, keep_last: int, summary: Message, seen: Sequence[Message] | int
    ) -> int:
        key = self._keys.messages(session_id)
        count, args = compact_request(
            keep_last, seen, summary, self._ttl_ms, self._max_messages, self._encode
        )
        return compact_result(key, count, int(await self._run(self._compact, key, args)))

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def initialize(self) -> None:
        """Load a cluster client's slot map and the scripts now (``async with`` does it),
        so that many tasks starting at once do not all race to do it on first use
        (redis-py's async ``RedisCluster`` fails under that race)."""
        if isinstance(self._client, AsyncRedisCluster):
            await self._client.initialize()
        for script in (self._append, self._append_flagged, self._compact):
            await self._client.script_load(script.script)

    async def __aenter__(self) -> AsyncRedisMemoryStore:
        await self.initialize()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
