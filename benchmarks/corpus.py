"""Deterministic messages: alternating user/assistant turns of English words."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from memfix import Message, Role

_TEXT = (
    "the user asked about redis persistence and the assistant explained that an append "
    "only file survives a restart while snapshots may lose the last minutes of a chat "
    "session unless the save rules say otherwise so memory needs tests on real servers"
)
_WORDS = _TEXT.split(" ")

#: Message sizes the benchmarks cover (characters of content).
SIZES = {"200B": 200, "4KB": 4 * 1024, "64KB": 64 * 1024}


def corpus(n: int, chars: int = 200, seed: int = 7) -> list[Message]:
    """``n`` alternating user/assistant messages of ``chars`` characters, with ids."""
    rnd = random.Random(seed)
    out: list[Message] = []
    for i in range(n):
        words: list[str] = []
        size = 0
        while size < chars:
            w = rnd.choice(_WORDS)
            words.append(w)
            size += len(w) + 1
        role: Role = "user" if i % 2 == 0 else "assistant"
        out.append(Message(role=role, content=" ".join(words)[:chars], timestamp=1.7e9 + i))
    return out


def cycle(items: Sequence[Any]) -> Callable[[], Any]:
    """An endless, cheap iterator over pre-built objects (built outside the timing)."""
    return _forever(items).__next__


def _forever(items: Sequence[Any]) -> Iterator[Any]:
    while True:
        yield from items


def batches(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items) - size + 1, size)]
