"""The ``MemoryStore`` contract: what any conversation-memory backend promises.

Tests in :mod:`memfix.testing` check these promises against a real backend;
they do not care how a store keeps its data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TypeVar

from memfix.model import Message

__all__ = ["MemoryStore"]

_Store = TypeVar("_Store", bound="MemoryStore")


class MemoryStore(ABC):
    """Conversation memory: ordered messages per session.

    Every method is atomic with respect to concurrent callers: a message that
    was acknowledged (the call returned) is never lost to another writer.
    """

    @abstractmethod
    def append_message(self, session_id: str, msg: Message) -> None:
        """Append one message to the end of the session."""

    @abstractmethod
    def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        """Append several messages, in order, as one atomic step."""

    @abstractmethod
    def get_history(self, session_id: str, limit: int | None = 100) -> list[Message]:
        """The most recent ``limit`` messages, oldest first (all of them for ``None``)."""

    @abstractmethod
    def count(self, session_id: str) -> int:
        """How many messages the session holds (0 for an unknown session)."""

    @abstractmethod
    def sessions(self) -> list[str]:
        """Every session id that holds at least one message, sorted."""

    @abstractmethod
    def delete_session(self, session_id: str) -> bool:
        """Forget a session; ``True`` if it existed."""

    @abstractmethod
    def compact(
        self,
        session_id: str,
        keep_last: int,
        summary: Message,
        *,
        seen: Sequence[Message] | int | None = None,
    ) -> int:
        """Replace all but the last ``keep_last`` messages by ``summary``.

        When ``summary`` was computed from a history you read earlier, pass
        that history (``seen=history``, the very object
        ``get_history(sid, limit=None)`` returned): exactly its
        ``len(history) - keep_last`` oldest messages are replaced, so messages
        appended meanwhile are kept, never folded into a summary that does
        not mention them. If the head moved since (another compaction, a
        window trim) it raises ``CompactionConflict``: re-read and retry.
        A store may refuse a copy or slice of the history with ``TypeError``
        (only what it returned can prove the head is unchanged).
        ``seen=<int>`` checks only the length, which is enough with one
        compactor per session and no window. Which forms a store accepts is
        declared in ``memfix.testing.Capabilities.seen`` (``RedisMemoryStore``:
        both). Returns how many messages were replaced.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    def __enter__(self: _Store) -> _Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
