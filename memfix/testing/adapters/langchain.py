"""langchain_community's ``RedisChatMessageHistory`` as a ``MemoryStore``.

One ``RedisChatMessageHistory`` per session (``message_store:<session>``,
LPUSH per message, read back reversed). Compaction is what LangChain's
summary-memory how-to does: read ``history.messages``, summarise (an LLM
call), ``clear()``, ``add_messages([summary, *kept])``. The library has no
window (``trim_messages`` trims on read, not in Redis) and no message ids
it deduplicates, so those capabilities are not declared. Timestamps are
not stored; other fields map onto the LangChain message classes.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import redis

from memfix.errors import MemfixError
from memfix.model import Message, ToolCall
from memfix.store.base import MemoryStore
from memfix.testing.adapters import missing_extra, with_timeouts
from memfix.testing.capabilities import Capabilities

try:
    with warnings.catch_warnings():  # "langchain-community is being sunset"
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.chat_message_histories import RedisChatMessageHistory
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
    )
except ImportError as exc:
    raise missing_extra(__name__, exc) from None

__all__ = ["CAPABILITIES", "LangchainStore", "LangchainStoreFactory"]

CAPABILITIES = Capabilities(
    idempotent_ids=False,
    window=False,
    seen=frozenset({"history"}),
    keeps=frozenset({"role", "content", "id", "name", "metadata", "tool_calls", "tool_call_id"}),
)


def to_langchain(m: Message) -> BaseMessage:
    common: dict[str, Any] = {
        "content": m.content,
        "id": m.id,
        "name": m.name,
        "additional_kwargs": dict(m.metadata),
    }
    if m.role == "system":
        return SystemMessage(**common)
    if m.role == "user":
        return HumanMessage(**common)
    if m.role == "tool":
        return ToolMessage(tool_call_id=m.tool_call_id or "", **common)
    calls = [{"id": c.id, "name": c.name, "args": dict(c.arguments)} for c in m.tool_calls]
    return AIMessage(tool_calls=calls, **common)


_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def from_langchain(m: BaseMessage) -> Message:
    role = _ROLES.get(m.type)
    if role is None or not isinstance(m.content, str):
        raise MemfixError(f"langchain message of type {m.type!r} has no memfix equivalent")
    calls = [
        ToolCall(c["id"] or "", c["name"], dict(c["args"]))
        for c in (m.tool_calls if isinstance(m, AIMessage) else [])
    ]
    return Message(
        role,  # type: ignore[arg-type]  # one of Role's values
        m.content,
        0.0,  # not stored by the library
        dict(m.additional_kwargs),
        m.id,
        m.name,
        calls,
        m.tool_call_id if isinstance(m, ToolMessage) else None,
    )


class LangchainStore(MemoryStore):
    """``MemoryStore`` over ``RedisChatMessageHistory`` objects on one server."""

    capabilities: ClassVar[Capabilities] = CAPABILITIES

    def __init__(
        self, url: str, *, ttl: float | None = None, key_prefix: str = "message_store:"
    ) -> None:
        if ttl is not None and not float(ttl).is_integer():
            raise NotImplementedError("RedisChatMessageHistory takes a TTL in whole seconds")
        self.url = with_timeouts(url)
        self.ttl = int(ttl) if ttl is not None else None
        self.key_prefix = key_prefix
        self._histories: dict[str, RedisChatMessageHistory] = {}
        self._scanner = redis.Redis.from_url(self.url)

    def history(self, session_id: str) -> RedisChatMessageHistory:
        """The library object for a session, as its users build it."""
        h = self._histories.get(session_id)
        if h is None:
            h = RedisChatMessageHistory(
                session_id, url=self.url, key_prefix=self.key_prefix, ttl=self.ttl
            )
            self._histories[session_id] = h
        return h

    def append_message(self, session_id: str, msg: Message) -> None:
        self.history(session_id).add_message(to_langchain(msg))

    def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        self.history(session_id).add_messages([to_langchain(m) for m in msgs])

    def get_history(self, session_id: str, limit: int | None = 100) -> list[Message]:
        if limit == 0:
            return []
        messages = [from_langchain(m) for m in self.history(session_id).messages]
        return messages if limit is None else messages[-limit:]

    def count(self, session_id: str) -> int:
        return len(self.history(session_id).messages)

    def sessions(self) -> list[str]:
        # No listing API: the key layout is the library's documented key_prefix.
        prefix = self.key_prefix.encode()
        keys = self._scanner.scan_iter(match=prefix + b"*", _type="list")
        return sorted({k[len(prefix) :].decode() for k in keys})

    def delete_session(self, session_id: str) -> bool:
        h = self.history(session_id)
        existed = bool(h.messages)
        h.clear()
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
            raise TypeError("RedisChatMessageHistory cannot check a count: pass the history")
        read = list(seen) if seen is not None else self.get_history(session_id, limit=None)
        replaced = max(0, len(read) - keep_last)
        if not replaced:
            return 0
        h = self.history(session_id)
        h.clear()
        h.add_messages([to_langchain(m) for m in [summary, *read[replaced:]]])
        return replaced

    def close(self) -> None:
        for h in self._histories.values():
            h.redis_client.close()
        self._scanner.close()


@dataclass(frozen=True)
class LangchainStoreFactory:
    """A picklable factory of :class:`LangchainStore` on one server URL."""

    url: str
    capabilities: ClassVar[Capabilities] = CAPABILITIES

    def __call__(
        self, *, ttl: float | None = None, max_messages: int | None = None
    ) -> LangchainStore:
        if max_messages is not None:
            raise NotImplementedError("RedisChatMessageHistory keeps no window")
        return LangchainStore(self.url, ttl=ttl)
