"""The seed article's store, as its text gives it (completed where the text is cut off).

memfix schema 1.0 must read what this writes and write what this reads; the
tests use it as the independent reference for that wire format.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import redis


@dataclass
class ArticleMessage:
    role: str  # 'user' | 'assistant' | 'system'
    content: str
    timestamp: float  # epoch seconds


class ArticleRedisMemoryStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _session_key(self, session_id: str) -> str:
        return f"session:{session_id}:messages"

    def append_message(self, session_id: str, msg: ArticleMessage) -> None:
        self.client.rpush(self._session_key(session_id), json.dumps(asdict(msg)))

    def get_history(self, session_id: str, limit: int = 100) -> list[ArticleMessage]:
        raws = self.client.lrange(self._session_key(session_id), -limit, -1)
        return [ArticleMessage(**json.loads(raw)) for raw in raws]
