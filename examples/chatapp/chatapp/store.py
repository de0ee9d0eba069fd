"""Conversation memory in Redis, written by hand (the seed article's style).

Each user's conversation is one Redis list, ``chat:{user}``, of JSON messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

KEY_PREFIX = "chat:"


@dataclass
class ChatMessage:
    role: str  # "user" | "assistant" | "system"
    content: str
    timestamp: float  # epoch seconds


class ChatMemory:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _key(self, user: str) -> str:
        return f"{KEY_PREFIX}{user}"

    def append(self, user: str, msg: ChatMessage) -> None:
        # 0.2: integer milliseconds are smaller than float seconds in JSON.
        record = {"role": msg.role, "content": msg.content, "ts_ms": round(msg.timestamp * 1000)}
        self.client.rpush(self._key(user), json.dumps(record))

    def history(self, user: str, limit: int = 100) -> list[ChatMessage]:
        raws = self.client.lrange(self._key(user), -limit, -1)
        return [_load(json.loads(raw)) for raw in raws]

    def users(self) -> list[str]:
        keys = self.client.scan_iter(match=f"{KEY_PREFIX}*")
        return sorted(k.decode()[len(KEY_PREFIX) :] for k in keys)


def _load(d: dict[str, Any]) -> ChatMessage:
    # 0.3: records written before 0.2 hold float seconds under "timestamp".
    timestamp = d["ts_ms"] / 1000 if "ts_ms" in d else d["timestamp"]
    return ChatMessage(role=d["role"], content=d["content"], timestamp=timestamp)
