"""The deterministic scenario a release records into its golden.

It drives the *current* store code the way an LLM app does: many sessions,
short and long, unicode and emoji, large messages, empty content, a sliding
TTL, a window, batch appends and a compaction. Clock and randomness are fixed
(seeded by the version), so recording twice gives the same ``dump.json``.

Each release adds sessions under its own prefix (``v1.0-...``) and appends to
the shared ``timeline`` session, so a golden recorded on top of the previous
one holds one conversation that spans every released version, as production
Redis does.

When a release adds a field to ``Message``, extend ``_message`` (and add a
session kind that exercises it); never change what earlier releases recorded:
their goldens are already committed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis

from memfix.formats.base import SCENARIO_TTL
from memfix.model import Message, Role, ToolCall
from memfix.store import RedisMemoryStore
from memfix.version import Version

__all__ = ["SCENARIO_NAME", "TTL", "run_scenario"]

SCENARIO_NAME = "chat-memory/1"

#: The scenario TTL every format shares (see :data:`memfix.formats.base.SCENARIO_TTL`).
TTL = timedelta(seconds=SCENARIO_TTL)

_ROLES: tuple[Role, ...] = ("user", "assistant")
_TEXTS = (
    "Hello! Can you help me plan a trip to Kyoto?",
    "Sure. How many days do you have, and what season?",
    "Five days in April; I like temples and food markets.",
    "Then start at Fushimi Inari early, before the crowds.",
    "Remember that I am vegetarian.",
    "Noted: vegetarian. Shojin ryori at a temple is a good fit.",
)
_UNICODE = (
    "emoji 🤖🧠💾🔥 and a family 👩‍👩‍👧‍👦 (ZWJ) and flags 🇯🇵🇫🇷",
    "日本語のテキストと中文文本和한국어",
    "עברית ועربية (right to left) mixed with LTR",
    "combining: e\u0301 a\u0308 n\u0303; zero width:\u200b|\u200d|",
    'escapes: "quotes" \\ backslash \n newline \t tab \u0000 nul',
    "math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ∀x∈ℝ, √2 ≈ 1.414",  # noqa: RUF001 - look-alike letters on purpose
)


class _Clock:
    """Epoch seconds that advance by seeded, irregular steps."""

    def __init__(self, start: float, rng: random.Random) -> None:
        self._now = start
        self._rng = rng

    def __call__(self) -> float:
        self._now = round(self._now + self._rng.uniform(0.5, 90.0), 3)
        return self._now


def run_scenario(
    client: redis.Redis, version: Version, *, progress: Callable[[str], None] | None = None
) -> None:
    """Sessions of every shape an LLM app writes (short, long, unicode, 64 KiB,
    empty, TTL, window, batch, compacted) plus turns on the shared timeline."""
    rng = random.Random(f"memfix-scenario-{version}")
    major, minor = version.major, version.minor
    # Releases a few weeks apart on a fixed calendar (Nov 2023 onwards).
    clock = _Clock(1_700_000_000.0 + (major - 1) * 100_000_000 + minor * 2_000_000, rng)
    say = progress or (lambda _: None)

    # Message ids (1.2+) come from their own seeded stream, so adding them
    # did not change which texts and roles the scenario draws.
    id_rng = random.Random(f"memfix-ids-{version}")
    with_ids = (major, minor) >= (1, 2)

    def next_id() -> str | None:
        return f"{id_rng.getrandbits(64):016x}" if with_ids else None

    def message(content: str, role: Role | None = None) -> Message:
        return _message(
            rng.choice(_ROLES) if role is None else role, content, clock(), id=next_id()
        )

    p = f"v{version}-"
    store = RedisMemoryStore(client)

    say("timeline: a conversation that spans every release")
    for i in range(5):
        store.append_message("timeline", message(f"[{version}] turn {i}: {rng.choice(_TEXTS)}"))

    say("short sessions")
    for s in range(20):
        for _ in range(rng.randint(1, 4)):
            store.append_message(f"{p}short-{s:02d}", message(rng.choice(_TEXTS)))

    say("a long session (300 messages)")
    store.append_messages(f"{p}long", [message(f"#{i} {rng.choice(_TEXTS)}") for i in range(300)])

    say("unicode, emoji and escapes")
    store.append_messages(f"{p}unicode", [message(t) for t in _UNICODE])

    say("a large message (64 KiB) and empty content")
    big = "".join(rng.choice("abcdefghij klmnopqrstuvwxyz.\n") for _ in range(64 * 1024))
    store.append_messages(f"{p}large", [message("summarise this:"), message(big, "user")])
    store.append_messages(f"{p}empty", [message("", "user"), message("", "assistant")])

    say("a system prompt, then a batch")
    store.append_message(f"{p}batch", message("You are a helpful travel agent.", "system"))
    store.append_messages(f"{p}batch", [message(rng.choice(_TEXTS)) for _ in range(10)])

    say("a session with a sliding TTL")
    RedisMemoryStore(client, ttl=TTL).append_messages(
        f"{p}ttl", [message(rng.choice(_TEXTS)) for _ in range(6)]
    )

    say("a session with a window of 20")
    windowed = RedisMemoryStore(client, max_messages=20)
    for i in range(50):
        windowed.append_message(f"{p}window", message(f"window #{i}"))

    say("a compacted session")
    store.append_messages(f"{p}compacted", [message(f"old #{i}") for i in range(40)])
    seen = store.count(f"{p}compacted")
    store.compact(
        f"{p}compacted",
        keep_last=5,
        summary=message("Summary: the user planned a Kyoto trip; vegetarian.", "system"),
        seen=seen,
    )

    if (major, minor) >= (1, 1):
        say("metadata-rich messages (1.1)")
        store.append_messages(
            f"{p}metadata",
            [
                message("What is the weather in Kyoto?", "user"),
                _message(
                    "assistant",
                    "Mild, 18°C, light rain in the evening.",
                    clock(),
                    id=next_id(),
                    metadata={
                        "model": "gpt-4o-mini",
                        "usage": {"prompt_tokens": 412, "completion_tokens": 17},
                        "latency_ms": 835,
                        "tags": ["weather", "travel"],
                        "cached": False,
                        "trace": None,
                        "score": 0.875,
                        "locale": "ja-JP 🇯🇵",
                    },
                ),
            ],
        )

    if with_ids:
        say("a retried append is stored once (1.2)")
        first = message("Book the 7:10 train to Nara, please.", "user")
        store.append_message(f"{p}retried", first)
        store.append_message(f"{p}retried", first)  # the client timed out and retried
        store.append_messages(f"{p}retried", [first, message("Booked: car 5, seat 12A.")])

    if (major, minor) >= (1, 3):
        say("tool use: calls and their answers (1.3)")
        weather = ToolCall(id="call_w1", name="get_weather", arguments={"city": "Kyoto", "days": 2})
        trains = ToolCall(
            id="call_t1",
            name="search_trains",
            arguments={
                "from": "Kyoto",
                "to": "Nara",
                "after": "07:00",
                "filters": {"seat": "window"},
            },
        )
        store.append_messages(
            f"{p}tools",
            [
                message("Weather in Kyoto, and a morning train to Nara?", "user"),
                _message("assistant", "", clock(), id=next_id(), tool_calls=[weather, trains]),
                _message(
                    "tool",
                    '{"forecast": ["rain", "sun"]}',
                    clock(),
                    id=next_id(),
                    name="get_weather",
                    tool_call_id="call_w1",
                ),
                _message(
                    "tool",
                    '{"trains": ["07:10", "07:42"]}',
                    clock(),
                    id=next_id(),
                    name="search_trains",
                    tool_call_id="call_t1",
                ),
                message("Rain today, sun tomorrow; trains at 07:10 and 07:42.", "assistant"),
            ],
        )

    if (major, minor) >= (1, 4):
        say("old conversations continue in the new format (1.4)")
        for old_session in ("v1.0-batch", "v1.1-metadata", "v1.3-tools"):
            store.append_messages(
                old_session,
                [message(f"(continued in {version}) {rng.choice(_TEXTS)}") for _ in range(3)],
            )


def _message(
    role: Role,
    content: str,
    timestamp: float,
    *,
    id: str | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    tool_calls: list[ToolCall] | None = None,
    tool_call_id: str | None = None,
) -> Message:
    """The one place that builds scenario messages: extend it when Message grows."""
    return Message(
        role=role,
        content=content,
        timestamp=timestamp,
        metadata=metadata or {},
        id=id,
        name=name,
        tool_calls=tool_calls or [],
        tool_call_id=tool_call_id,
    )
