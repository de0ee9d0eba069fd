"""chatapp's stored memory as a memfix format: how the goldens call our own code."""

from __future__ import annotations

import dataclasses
from typing import Any

import redis

import chatapp
from chatapp.store import KEY_PREFIX, ChatMemory, ChatMessage
from memfix.formats import Version


class ChatFormat:
    name = "chatapp"
    current_version = chatapp.__version__
    key_patterns = (f"{KEY_PREFIX}*",)

    def write_scenario(self, client: redis.Redis, version: Version) -> None:
        """Two users' conversations, written by the current code at a fixed clock."""
        memory = ChatMemory(client)
        t = 1_700_000_000.0 + version.minor * 1_000_000
        for user in (f"alice-{version}", f"bob-{version}"):
            for i, (role, text) in enumerate(SCRIPT):
                memory.append(user, ChatMessage(role=role, content=text, timestamp=t + i))

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        memory = ChatMemory(client)
        return {
            KEY_PREFIX + user: [dataclasses.asdict(m) for m in memory.history(user, limit=10_000)]
            for user in memory.users()
        }


SCRIPT = [
    ("system", "You are a helpful travel agent."),
    ("user", "Plan two days in Kyoto, please."),
    ("assistant", "Day 1: Fushimi Inari early, then Nishiki market."),
    ("user", "I am vegetarian."),
    ("assistant", "Noted: shojin ryori at a temple on day 2."),
]

FORMAT = ChatFormat()
