"""Built-in format ``pydantic-ai``: message history as pydantic-ai's docs recommend storing it.

pydantic-ai ships no Redis store; its docs say to persist
``result.new_messages_json()`` (``ModelMessagesTypeAdapter`` JSON) and load it
back with ``ModelMessagesTypeAdapter.validate_json``. The tiny store here does
exactly that: one Redis LIST per conversation, ``pydantic_ai:<conversation>``,
one element per agent run holding that run's new messages as a JSON array
(RPUSH), read back by validating every element and concatenating.

Determinism: pydantic-ai stamps ``datetime.now()`` on parts and responses and
random ``pyd_ai_<uuid>`` tool-call ids; the scenario passes a fixed timestamp
(:data:`memfix.formats._library.FIXED_TIME`) and fixed ids for every field a
release has (fields a release lacks are left out).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import redis

from memfix.errors import FormatError
from memfix.formats._library import (
    FIXED_TIME,
    LibraryFormat,
    build,
    keys_matching,
)

__all__ = ["PydanticAIFormat", "RedisMessageHistory", "pydantic_ai"]

PREFIX = "pydantic_ai:"
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class RedisMessageHistory:
    """The store pydantic-ai's docs describe: each run's ``ModelMessagesTypeAdapter``
    JSON, appended to a Redis list, loaded back through the same adapter."""

    def __init__(self, client: redis.Redis, conversation_id: str) -> None:
        self.client = client
        self.key = PREFIX + conversation_id

    def append_run(self, messages: list[Any]) -> None:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        self.client.rpush(self.key, ModelMessagesTypeAdapter.dump_json(messages))

    def messages(self) -> list[Any]:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        out: list[Any] = []
        for i, raw in enumerate(self.client.lrange(self.key, 0, -1)):
            try:
                out.extend(ModelMessagesTypeAdapter.validate_json(raw))
            except Exception as exc:
                raise FormatError(
                    f"key {self.key!r} index {i}: pydantic-ai cannot load it: "
                    f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                ) from None
        return out


def _usage(**tokens: Any) -> Any:
    """A response's usage in the release's own class (``RequestUsage`` since 0.7.3)."""
    from pydantic_ai import usage

    if hasattr(usage, "RequestUsage"):
        return build(
            usage.RequestUsage,
            input_tokens=tokens["input"],
            output_tokens=tokens["output"],
            details=tokens.get("details") or {},
        )
    return build(
        getattr(usage, "Usage"),  # noqa: B009 - gone since 0.7.3, so not in the stubs
        requests=1,
        request_tokens=tokens["input"],
        response_tokens=tokens["output"],
        total_tokens=tokens["input"] + tokens["output"],
        details=tokens.get("details"),
    )


def _runs() -> list[list[Any]]:
    """Two agent runs covering every message and part kind the release has."""
    from pydantic_ai import messages as m

    t = FIXED_TIME

    def part(name: str, **kwargs: Any) -> Any | None:
        cls = getattr(m, name, None)
        return None if cls is None else build(cls, **kwargs)

    def parts(*items: Any) -> list[Any]:
        return [p for p in items if p is not None]

    user_content: list[Any] = ["What is the weather in Paris? Here is the sky:"]
    for name, kwargs in (
        ("ImageUrl", {"url": "https://example.com/cloud.png"}),
        ("BinaryContent", {"data": PNG_1X1, "media_type": "image/png"}),
    ):
        item = part(name, **kwargs)
        if item is not None:
            user_content.append(item)

    first = [
        build(
            m.ModelRequest,
            parts=parts(
                part("SystemPromptPart", content="You are a terse weather assistant.", timestamp=t),
                part("UserPromptPart", content=user_content, timestamp=t),
            ),
            instructions="Answer in Celsius.",
            timestamp=t,
            run_id="run-1",
        ),
        build(
            m.ModelResponse,
            parts=parts(
                part(
                    "ThinkingPart",
                    content="Need the weather tool.",
                    id="think-1",
                    signature="sig-1",
                ),
                part("TextPart", content="Let me check."),
                part(
                    "ToolCallPart",
                    tool_name="get_weather",
                    args={"city": "Paris"},
                    tool_call_id="call_weather_1",
                ),
                part(
                    "ToolCallPart",
                    tool_name="get_time",
                    args='{"tz": "Europe/Paris"}',
                    tool_call_id="call_time_1",
                ),
            ),
            usage=_usage(input=31, output=17, details={"reasoning_tokens": 5}),
            model_name="test-model-1",
            timestamp=t,
            provider_name="test-provider",
            provider_response_id="resp-1",
            vendor_id="resp-1",
            finish_reason="tool_call",
            provider_details={"region": "eu"},
            vendor_details={"region": "eu"},
            run_id="run-1",
        ),
        build(
            m.ModelRequest,
            parts=parts(
                part(
                    "ToolReturnPart",
                    tool_name="get_weather",
                    content={"temp_c": 18, "sky": "cloudy"},
                    tool_call_id="call_weather_1",
                    metadata={"source": "test"},
                    timestamp=t,
                ),
                part(
                    "RetryPromptPart",
                    content="timezone database missing; retry with a UTC offset",
                    tool_name="get_time",
                    tool_call_id="call_time_1",
                    timestamp=t,
                ),
            ),
            timestamp=t,
            run_id="run-1",
        ),
        build(
            m.ModelResponse,
            parts=parts(part("TextPart", content="It is 18 C and cloudy.")),
            usage=_usage(input=60, output=12),
            model_name="test-model-1",
            timestamp=t,
            run_id="run-1",
        ),
    ]
    second = [
        build(
            m.ModelRequest,
            parts=parts(part("UserPromptPart", content="Thanks!", timestamp=t)),
            timestamp=t,
            run_id="run-2",
        ),
        build(
            m.ModelResponse,
            parts=parts(part("TextPart", content="You're welcome.")),
            usage=_usage(input=75, output=4),
            model_name="test-model-1",
            timestamp=t,
            run_id="run-2",
        ),
    ]
    return [first, second]


class PydanticAIFormat(LibraryFormat):
    """``pydantic_ai:<conversation>`` lists of per-run ``ModelMessagesTypeAdapter`` JSON."""

    name = "pydantic-ai"
    distribution = "pydantic-ai-slim"
    packages = ("pydantic-ai-slim", "pydantic", "pydantic-core", "redis")
    requirements = ("pydantic-ai-slim",)
    key_patterns = (PREFIX + "*",)

    def write_scenario(self, client: redis.Redis, version: str) -> None:
        """Two agent runs of one conversation: system prompt, instructions, a multi-part
        user prompt (text, image URL, binary image), a response with thinking, text and
        two tool calls (dict and JSON-string args) with usage incl. details and provider
        metadata, a tool return and a retry prompt, a final answer whose usage has no
        details; then a second run."""
        history = RedisMessageHistory(client, "conversation-kinds")
        with warnings.catch_warnings():
            # Newer releases deprecate parts that older ones need (RetryPromptPart),
            # with a warning class of their own (a UserWarning).
            warnings.simplefilter("ignore")
            runs = _runs()
        for run in runs:
            history.append_run(run)

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        sessions: dict[str, list[Any]] = {}
        for key in keys_matching(client, PREFIX + "*"):
            conversation = key[len(PREFIX) :]
            loaded = RedisMessageHistory(client, conversation).messages()
            try:
                sessions[conversation] = json.loads(ModelMessagesTypeAdapter.dump_json(loaded))
            except Exception:
                # 0.7.x cannot re-serialize a validated ImageUrl (its init=False
                # `_media_type` is never set); read the loaded objects field by field.
                sessions[conversation] = [_fields(m) for m in loaded]
        return sessions


def _fields(value: Any) -> Any:
    """Public dataclass fields of loaded messages, recursively, as JSON builtins."""
    import base64
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _fields(getattr(value, f.name, None))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, (list, tuple)):
        return [_fields(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _fields(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


pydantic_ai = PydanticAIFormat()
