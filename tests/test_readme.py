"""The README's store example runs as written (only its URL points at a test server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memfix import Message
from memfix.servers import Server

README = Path(__file__).resolve().parent.parent / "README.md"


def _store_example() -> str:
    text = README.read_text(encoding="utf-8")
    _, after = text.split("## The store\n\n```python\n", 1)
    return after.split("```", 1)[0]


def test_the_store_example_runs_as_written(server: Server) -> None:
    code = _store_example()
    assert "redis://localhost:6379/0" in code
    scope: dict[str, Any] = {}
    exec(code.replace("redis://localhost:6379/0", server.url), scope)
    history = scope["history"]
    assert [m.role for m in history] == ["user", "assistant", "tool", "assistant"]
    assert all(isinstance(m, Message) for m in history)
    assert scope["everything"] == {"user-42": history}
    assert server.client.dbsize() == 0  # the example ends by deleting its session
