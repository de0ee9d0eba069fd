"""Real upstream breaks, reproduced: goldens written before a library release broke
them, read by the release before the break (matches its snapshot) and by the
release that broke them (fails). See docs/incidents.md for the diffs.

Opt-in (``MEMFIX_UPSTREAM=1``): each case builds isolated environments with old
releases (15-110 s each the first time, then cached under ~/.cache/memfix/envs
and reused offline).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from memfix.formats._library import library_format
from memfix.goldens import Golden
from memfix.goldens.isolated import IsolatedEnv, ensure_env
from memfix.goldens.restore import RestoreMode, restored_server
from memfix.servers import default_spec
from memfix.snapshot import GoldenSnapshotExtension

pytestmark = [
    pytest.mark.upstream,
    pytest.mark.skipif(
        os.environ.get("MEMFIX_UPSTREAM") != "1",
        reason="installs older library releases into isolated envs (15-110 s each, "
        "cached): set MEMFIX_UPSTREAM=1 to run",
    ),
]

GOLDEN = Path(__file__).resolve().parent.parent / "golden"

# Releases of the era a golden was written in need the dependencies of that era:
# newer opentelemetry-api dropped a module pydantic-ai 0.7 imports.
PYDANTIC_AI_ERA = ("opentelemetry-api==1.36.0", "pydantic==2.11.*", "griffe<2")
LLAMA_ERA = ("llama-index-core==0.10.*",)


def _env(name: str, *pins: str) -> IsolatedEnv:
    """The environment ``memfix record --format NAME --with PIN...`` uses."""
    return ensure_env([*pins, *library_format(name).requirements])


def _read(env: IsolatedEnv, name: str, golden: Golden) -> dict[str, Any]:
    with restored_server(golden, default_spec(), RestoreMode.JSON) as server:
        return env.run_format("read", name, server.url)


def _view(result: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in result, result["error"]
    return {"sessions": result["sessions"]}


def test_pydantic_ai_0_7_2_history_fails_validation_in_0_7_3(snapshot: SnapshotAssertion) -> None:
    """pydantic/pydantic-ai #2789: 0.7.3 made ``usage.details`` a required dict; stored
    responses whose details were ``None`` stopped validating (fixed by PR #2792)."""
    golden = Golden.open(GOLDEN / "pydantic-ai" / "0.7")
    before = _env("pydantic-ai", "pydantic-ai-slim==0.7.2", *PYDANTIC_AI_ERA)
    broken = _env("pydantic-ai", "pydantic-ai-slim==0.7.3", *PYDANTIC_AI_ERA)
    expected = snapshot.use_extension(GoldenSnapshotExtension)(name="pydantic-ai-0.7-read-by-0.7.2")
    assert _view(_read(before, "pydantic-ai", golden)) == expected
    result = _read(broken, "pydantic-ai", golden)
    assert "ValidationError" in result.get("error", ""), result.get("error")
    assert "details" in result["error"]
    assert "pydantic_ai:conversation-kinds" in result["error"]


def test_llama_index_0_1_2_history_loses_roles_in_0_1_3(snapshot: SnapshotAssertion) -> None:
    """run-llama/llama_index #12313 / PR #12802: 0.1.2 stored ``{"type": role, "content"}``
    (and dropped tool calls); 0.1.3 parses stored messages as ChatMessage, which has no
    ``type`` field, so every old message comes back with the default role ``user``."""
    golden = Golden.open(GOLDEN / "llama-index" / "0.1")
    before = _env("llama-index", "llama-index-storage-chat-store-redis==0.1.2", *LLAMA_ERA)
    broken = _env("llama-index", "llama-index-storage-chat-store-redis==0.1.3", *LLAMA_ERA)
    expected = snapshot.use_extension(GoldenSnapshotExtension)(name="llama-index-0.1-read-by-0.1.2")
    read_before = _view(_read(before, "llama-index", golden))
    assert read_before == expected
    after = _view(_read(broken, "llama-index", golden))
    assert after != read_before
    roles = {m["role"] for m in after["sessions"]["conversation-kinds"]}
    assert roles == {"user"}, roles


def test_cached_environments_work_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    pins = ["pydantic-ai-slim==0.7.2", *PYDANTIC_AI_ERA, "pydantic-ai-slim"]
    built = ensure_env(pins)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/")
    started = time.perf_counter()
    again = ensure_env(pins)
    assert again.path == built.path and again.packages == built.packages
    assert again.packages["pydantic-ai-slim"] == "0.7.2"
    assert time.perf_counter() - started < 5  # no pip run at all
