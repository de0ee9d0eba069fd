"""llama-index's ``RedisChatStore`` as a ``MemoryStore``.

The session id is the store's key (llama-index adds no prefix). Compaction
is what llama-index's ``ChatMemoryBuffer`` / ``ChatSummaryMemoryBuffer`` do:
``get_messages``, summarise, ``set_messages(key, [summary, *kept])``. The
library has no batch call, so a batch is one ``add_message`` per message,
and no trim, so a window deletes the oldest with ``delete_message(key, 0)``
after each append. ``additional_kwargs`` holds ``Message.metadata``; ids,
timestamps, names and tool fields are not stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import redis

from memfix.model import Message
from memfix.store.base import MemoryStore
from memfix.testing.adapters import missing_extra, with_timeouts
from memfix.testing.capabilities import Capabilities

try:
    from llama_index.core.llms import ChatMessage, MessageRole
    from llama_index.storage.chat_store.redis import RedisChatStore
    from redis.asyncio import Redis as AsyncRedis
except ImportError as exc:
    raise missing_extra(__name__, exc) from None

__all__ = ["CAPABILITIES", "LlamaIndexStore", "LlamaIndexStoreFactory"]

CAPABILITIES = Capabilities(
    idempotent_ids=False,
    seen=frozenset({"history"}),
    keeps=frozenset({"role", "content", "metadata"}),
)


def to_llama(m: Message) -> ChatMessage:
    return ChatMessage(role=MessageRole(m.role), content=m.content, additional_kwargs=m.metadata)


def from_llama(m: ChatMessage) -> Message:
    return Message(
        m.role.value,  # type: ignore[arg-type]  # we only wrote memfix roles
        m.content or "",
        0.0,  # not stored by the library
        dict(m.additional_kwargs),
        None,
    )


class LlamaIndexStore(MemoryStore):
    """``MemoryStore`` over one ``RedisChatStore``."""

    capabilities: ClassVar[Capabilities] = CAPABILITIES

    def __init__(
        self, url: str, *, ttl: float | None = None, max_messages: int | None = None
    ) -> None:
        if ttl is not None and not float(ttl).is_integer():
            raise NotImplementedError("RedisChatStore takes a TTL in whole seconds")
        url = with_timeouts(url)
        self._client = redis.Redis.from_url(url)
        self.store = RedisChatStore(
            redis_url=url,
            redis_client=self._client,
            aredis_client=AsyncRedis.from_url(url),  # unused here; connects lazily
            ttl=int(ttl) if ttl is not None else None,
        )
        self.max_messages = max_messages

    def append_message(self, session_id: str, msg: Message) -> None:
        self.append_messages(session_id, [msg])

    def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        added = 0
        for m in msgs:
            self.store.add_message(session_id, to_llama(m))
            added += 1
        if self.max_messages is not None:
            # Drop as many oldest as were added (at most): what a user writes.
            excess = len(self.store.get_messages(session_id)) - self.max_messages
            for _ in range(min(added, excess)):
                self.store.delete_message(session_id, 0)

    def get_history(self, session_id: str, limit: int | None = 100) -> list[Message]:
        if limit == 0:
            return []
        messages = [from_llama(m) for m in self.store.get_messages(session_id)]
        return messages if limit is None else messages[-limit:]

    def count(self, session_id: str) -> int:
        return len(self.store.get_messages(session_id))

    def sessions(self) -> list[str]:
        return sorted(self.store.get_keys())

    def delete_session(self, session_id: str) -> bool:
        existed = bool(self.store.get_messages(session_id))
        self.store.delete_messages(session_id)
        return existed

    def compact(
        self,
        session_id: str,
        keep_last: int,
        summary: Message,
        *,
        seen: Sequence[Message] | int | None = None,
    ) -> int:
        if isinstance(seen, int):
            raise TypeError("RedisChatStore cannot check a count: pass the history")
        read = list(seen) if seen is not None else self.get_history(session_id, limit=None)
        replaced = max(0, len(read) - keep_last)
        if replaced:
            self.store.set_messages(session_id, [to_llama(m) for m in [summary, *read[replaced:]]])
        return replaced

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class LlamaIndexStoreFactory:
    """A picklable factory of :class:`LlamaIndexStore` on one server URL."""

    url: str
    capabilities: ClassVar[Capabilities] = CAPABILITIES

    def __call__(
        self, *, ttl: float | None = None, max_messages: int | None = None
    ) -> LlamaIndexStore:
        return LlamaIndexStore(self.url, ttl=ttl, max_messages=max_messages)
