"""Built-in format ``langchain``: ``RedisChatMessageHistory`` from langchain_community.

The store keeps one Redis LIST per session, ``message_store:<session_id>``,
each element ``json.dumps(message_to_dict(message))`` pushed with LPUSH (so the
list is newest first; the library reverses it on read). Messages are
langchain_core's, so the golden's directory is named after the langchain-core
release line that wrote it (``golden/langchain/0.3/``).

langchain-redis (the newer package) is not a built-in format: it needs the
RedisJSON and RediSearch modules, and memfix's goldens run on plain
Redis/Valkey servers.

Determinism: every message carries a fixed ``id`` (langchain would otherwise
leave it ``None`` or, for some paths, generate ``run-<uuid>`` ids) and no
timestamps are involved.
"""

from __future__ import annotations

from typing import Any

import redis

from memfix.errors import FormatError
from memfix.formats._library import (
    LibraryFormat,
    build,
    client_url,
    jsonable,
    keys_matching,
)
from memfix.formats.base import SCENARIO_TTL

__all__ = ["LangchainFormat", "langchain"]

PREFIX = "message_store:"


def _messages() -> list[Any]:
    """Every message kind langchain_core has, with tool calls, usage and metadata."""
    from langchain_core import messages as m

    out: list[Any] = [
        build(m.SystemMessage, content="You are a terse weather assistant.", id="lc-sys-1"),
        build(
            m.HumanMessage,
            content="What is the weather in Paris?",
            id="lc-user-1",
            name="alice",
            additional_kwargs={"client": "web"},
        ),
        build(
            m.AIMessage,
            content="",
            id="lc-ai-1",
            tool_calls=[
                {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_weather_1"},
                {"name": "get_time", "args": {"tz": "Europe/Paris"}, "id": "call_time_1"},
            ],
            invalid_tool_calls=[
                {"name": "get_news", "args": "{not json", "id": "call_news_1", "error": "bad args"}
            ],
            usage_metadata={"input_tokens": 31, "output_tokens": 17, "total_tokens": 48},
            response_metadata={"model_name": "test-model-1", "finish_reason": "tool_calls"},
            additional_kwargs={"refusal": None},
        ),
        build(
            m.ToolMessage,
            content="18 C, cloudy",
            tool_call_id="call_weather_1",
            name="get_weather",
            id="lc-tool-1",
            artifact={"raw": {"temp_c": 18, "sky": "cloudy"}},
            status="success",
        ),
        build(
            m.ToolMessage,
            content="tool crashed: timezone database missing",
            tool_call_id="call_time_1",
            name="get_time",
            id="lc-tool-2",
            status="error",
        ),
        build(
            m.HumanMessage,
            content=[
                {"type": "text", "text": "And what is in this picture?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cloud.png"}},
            ],
            id="lc-user-2",
        ),
        build(
            m.AIMessage,
            content=[{"type": "text", "text": "It is 18 C and cloudy; the picture shows a cloud."}],
            id="lc-ai-2",
            usage_metadata={"input_tokens": 60, "output_tokens": 12, "total_tokens": 72},
            response_metadata={"model_name": "test-model-1", "finish_reason": "stop"},
        ),
        build(m.ChatMessage, role="critic", content="Answer was accurate.", id="lc-chat-1"),
        build(m.FunctionMessage, name="legacy_fn", content='{"ok": true}', id="lc-fn-1"),
    ]
    return out


class LangchainFormat(LibraryFormat):
    """``message_store:<session>`` lists written and read by ``RedisChatMessageHistory``."""

    name = "langchain"
    distribution = "langchain-core"
    packages = ("langchain-core", "langchain-community", "redis")
    requirements = ("langchain-core", "langchain-community")
    key_patterns = (PREFIX + "*",)

    def _history(self, client: redis.Redis, session_id: str, ttl: int | None = None) -> Any:
        from langchain_community.chat_message_histories import RedisChatMessageHistory

        return RedisChatMessageHistory(session_id, url=client_url(client), ttl=ttl)

    def write_scenario(self, client: redis.Redis, version: str) -> None:
        """Every langchain_core message kind (system, human with name and multi-part
        content, AI with tool calls, invalid tool calls, usage and response metadata,
        tool results incl. an error, chat and function messages) in one session, one
        at a time through ``add_message``; a short session through ``add_messages``
        with a TTL, as apps with expiring memory configure it."""
        messages = _messages()
        history = self._history(client, "conversation-kinds")
        for message in messages:
            history.add_message(message)
        expiring = self._history(client, "conversation-expiring", ttl=SCENARIO_TTL)
        expiring.add_messages(messages[:2])

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        from langchain_core.messages import message_to_dict

        sessions: dict[str, list[Any]] = {}
        for key in keys_matching(client, PREFIX + "*"):
            session_id = key[len(PREFIX) :]
            try:
                loaded = self._history(client, session_id).messages
            except Exception as exc:
                raise FormatError(
                    f"key {key!r}{_bad_index(client, key)}: langchain cannot load it: "
                    f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                ) from None
            sessions[session_id] = [jsonable(message_to_dict(msg)) for msg in loaded]
        return sessions


def _bad_index(client: redis.Redis, key: str) -> str:
    """`` index N`` of the first element that fails alone (list order as the library reads it)."""
    import json

    from langchain_core.messages import messages_from_dict

    raw = client.lrange(key, 0, -1)[::-1]
    for i, item in enumerate(raw):
        try:
            messages_from_dict([json.loads(item)])
        except Exception:
            return f" index {i}"
    return ""


langchain = LangchainFormat()
