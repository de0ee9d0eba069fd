"""Built-in format ``llama-index``: ``RedisChatStore`` (llama-index-storage-chat-store-redis).

The store keeps one Redis LIST per chat key, one JSON document per message,
pushed with RPUSH. Releases up to 0.1.2 stored ``{"type": role, "content":
text}`` and dropped everything else (tool calls included, run-llama/llama_index
#12313); 0.1.3 switched to the full pydantic dump (PR #12802); today it is
``ChatMessage.model_dump_json()``. The store has no key prefix of its own: the
app picks the keys. The scenario uses ``llama_chat:<session>``, and a project
with another scheme builds ``LlamaIndexFormat(key_prefix=...)``.

Determinism: llama-index stamps neither times nor ids on chat messages; tool
call ids are fixed strings.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from memfix.errors import FormatError
from memfix.formats._library import (
    LibraryFormat,
    build,
    client_url,
    keys_matching,
)
from memfix.formats.base import SCENARIO_TTL

__all__ = ["LlamaIndexFormat", "llama_index"]

_TOOL_CALLS = [
    {
        "id": "call_weather_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
]


def _messages() -> list[Any]:
    """Every role llama-index has, tool calls, tool results, multi-part blocks, extras."""
    from llama_index.core.llms import ChatMessage, MessageRole

    try:  # content blocks exist since llama-index-core 0.12
        from llama_index.core.base.llms import types
    except ImportError:  # pragma: no cover - very old releases
        types = None  # type: ignore[assignment]

    def block(name: str, **kwargs: Any) -> Any | None:
        cls = getattr(types, name, None)
        return None if cls is None else build(cls, **kwargs)

    def msg(
        role: str, content: str | None = None, blocks: list[Any] | None = None, **extra: Any
    ) -> Any:
        real = [b for b in (blocks or []) if b is not None]
        fields: Any = getattr(ChatMessage, "model_fields", None) or ChatMessage.__fields__
        if real and "blocks" in fields:
            return ChatMessage(role=MessageRole(role), blocks=real, **extra)
        return ChatMessage(role=MessageRole(role), content=content, **extra)

    roles = {r.value for r in MessageRole}
    out = [
        msg("system", "You are a terse weather assistant."),
        msg("user", "What is the weather in Paris?", additional_kwargs={"name": "alice"}),
        msg(
            "assistant",
            "",
            [
                block("ThinkingBlock", content="The user wants the weather; call the tool."),
                block(
                    "ToolCallBlock",
                    tool_call_id="call_weather_1",
                    tool_name="get_weather",
                    tool_kwargs={"city": "Paris"},
                ),
            ],
            additional_kwargs={"tool_calls": _TOOL_CALLS},
        ),
        msg(
            "tool",
            "18 C, cloudy",
            additional_kwargs={"tool_call_id": "call_weather_1", "name": "get_weather"},
        ),
        msg(
            "user",
            "And what is in this picture?",
            [
                block("TextBlock", text="And what is in this picture?"),
                block(
                    "ImageBlock", url="https://example.com/cloud.png", image_mimetype="image/png"
                ),
            ],
        ),
        msg(
            "assistant",
            "It is 18 C and cloudy; the picture shows a cloud.",
            additional_kwargs={
                "model": "test-model-1",
                "usage": {"prompt_tokens": 60, "completion_tokens": 12, "total_tokens": 72},
            },
        ),
        msg("function", '{"ok": true}', additional_kwargs={"name": "legacy_fn"}),
        msg("chatbot", "Cohere-style chatbot turn."),
    ]
    if "developer" in roles:
        out.insert(1, msg("developer", "Answer in Celsius."))
    return out


class LlamaIndexFormat(LibraryFormat):
    """``<key_prefix><session>`` lists written and read by ``RedisChatStore``."""

    name = "llama-index"
    distribution = "llama-index-storage-chat-store-redis"
    packages = ("llama-index-storage-chat-store-redis", "llama-index-core", "redis")
    requirements = ("llama-index-storage-chat-store-redis", "llama-index-core")

    def __init__(self, key_prefix: str = "llama_chat:") -> None:
        self.key_prefix = key_prefix
        self.key_patterns = (key_prefix + "*",)

    def _store(self, client: redis.Redis, ttl: int | None = None) -> Any:
        from llama_index.storage.chat_store.redis import RedisChatStore

        return RedisChatStore(redis_url=client_url(client), ttl=ttl)

    def write_scenario(self, client: redis.Redis, version: str) -> None:
        """Every ChatMessage role (system, developer where it exists, user, assistant with
        tool calls in ``additional_kwargs`` and, where the release has them, thinking and
        tool-call blocks, tool results, function, chatbot), multi-part text+image blocks,
        and provider extras, through ``add_message``; the first two again through
        ``set_messages`` on a store with a TTL."""
        messages = _messages()
        store = self._store(client)
        for message in messages:
            store.add_message(self.key_prefix + "conversation-kinds", message)
        self._store(client, ttl=SCENARIO_TTL).set_messages(
            self.key_prefix + "conversation-expiring", messages[:2]
        )

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        store = self._store(client)
        sessions: dict[str, list[Any]] = {}
        for key in keys_matching(client, self.key_prefix + "*"):
            try:
                loaded = store.get_messages(key)
            except Exception as exc:
                raise FormatError(
                    f"key {key!r}: llama-index cannot load it: "
                    f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                ) from None
            sessions[key[len(self.key_prefix) :]] = [_dump(m) for m in loaded]
        return sessions


def _dump(message: Any) -> Any:
    dump_json = getattr(message, "model_dump_json", None) or message.json
    return json.loads(dump_json())


llama_index = LlamaIndexFormat()
