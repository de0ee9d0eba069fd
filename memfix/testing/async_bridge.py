"""Run the (synchronous) reusable suites on :class:`AsyncRedisMemoryStore`.

``SyncFacade`` drives an async store on its own event loop thread, so that
``MemoryStoreContract`` and the concurrency harness (threads and processes) run
unchanged against the async code path: the async twin of the suite, not a copy.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from memfix.model import Message
from memfix.store.async_store import AsyncRedisMemoryStore
from memfix.store.base import MemoryStore
from memfix.store.redis_store import History

__all__ = ["AsyncStoreFactory", "SyncFacade"]

_T = TypeVar("_T")


class SyncFacade(MemoryStore):
    """A :class:`MemoryStore` whose every call awaits the async store on a private loop."""

    def __init__(self, url: str, *, cluster: bool = False, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def make() -> AsyncRedisMemoryStore:  # the client binds to this loop
            return AsyncRedisMemoryStore(url, cluster=cluster, **options)

        self.store = self._call(make())

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def append_message(self, session_id: str, msg: Message) -> None:
        self._call(self.store.append_message(session_id, msg))

    def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        self._call(self.store.append_messages(session_id, list(msgs)))

    def get_history(self, session_id: str, limit: int | None = 100) -> History:
        return self._call(self.store.get_history(session_id, limit))

    def count(self, session_id: str) -> int:
        return self._call(self.store.count(session_id))

    def sessions(self) -> list[str]:
        return self._call(self.store.sessions())

    def delete_session(self, session_id: str) -> bool:
        return self._call(self.store.delete_session(session_id))

    def compact(
        self,
        session_id: str,
        keep_last: int,
        summary: Message,
        *,
        seen: Sequence[Message] | int | None = None,
    ) -> int:
        return self._call(self.store.compact(session_id, keep_last, summary, seen=seen))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self.store.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


@dataclass(frozen=True)
class AsyncStoreFactory:
    """A picklable factory of :class:`SyncFacade` stores on one server (or cluster) URL."""

    url: str
    cluster: bool = False

    def __call__(self, *, ttl: float | None = None, max_messages: int | None = None) -> SyncFacade:
        return SyncFacade(self.url, cluster=self.cluster, ttl=ttl, max_messages=max_messages)
