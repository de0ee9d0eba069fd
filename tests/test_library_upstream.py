"""Real upstream breaks, reproduced: goldens written before a library release broke
them, read by the release before the break (matches its snapshot) and by the
release that broke them (fails). See docs/incidents.md for the diffs.

Each read is the ordinary golden case (:func:`memfix.goldens.restored_case`)
with the format running in an isolated environment that holds the old release
(:func:`memfix.goldens.isolated.isolated_format`, what ``memfix record --with``
uses). Opt-in (``MEMFIX_UPSTREAM=1``): the environments are built with pip the
first time (see docs/incidents.md for the cold time), then cached under
``$MEMFIX_CACHE`` (default ~/.cache/memfix/envs) and reused offline.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from memfix.formats import resolve_format
from memfix.goldens import CaseFailure, Golden, golden_cases, restored_case
from memfix.goldens.isolated import IsolatedFormat, ensure_env, isolated_format
from memfix.goldens.meaning import read_snapshot
from memfix.goldens.restore import RestoreMode
from memfix.servers import default_spec

pytestmark = [
    pytest.mark.upstream,
    # a cold build of two environments under a loaded CI run took 160 s (measured)
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.environ.get("MEMFIX_UPSTREAM") != "1",
        reason="installs older library releases into isolated envs (built once, then "
        "cached): set MEMFIX_UPSTREAM=1 to run",
    ),
]

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
#: What the release before each break read, committed (plain files, not syrupy's: these
#: tests are opt-in, and syrupy reports the snapshots of tests that did not run as unused).
READ_BEFORE = Path(__file__).resolve().parent / "upstream"

# Releases of the era a golden was written in need the dependencies of that era:
# newer opentelemetry-api dropped a module pydantic-ai 0.7 imports.
PYDANTIC_AI_ERA = ("opentelemetry-api==1.36.0", "pydantic==2.11.*", "griffe<2")
LLAMA_ERA = ("llama-index-core==0.10.*",)


def _with(name: str, *pins: str) -> IsolatedFormat:
    """The format as ``memfix record --set NAME --with PIN...`` runs it."""
    return isolated_format(resolve_format(name), name, pins)


def _sessions(name: str, version: str, fmt: IsolatedFormat) -> dict[str, Any]:
    """The golden case (json restore, default server) read by ``fmt``; CaseFailure if it fails."""
    golden = Golden.open(GOLDEN / name / version, name)
    (case,) = golden_cases([golden], [default_spec()], fmt, modes=(RestoreMode.JSON,))
    with restored_case(case) as restored:
        return {"sessions": restored.view().sessions}


def test_pydantic_ai_0_7_2_history_fails_validation_in_0_7_3() -> None:
    """pydantic/pydantic-ai #2789: 0.7.3 made ``usage.details`` a required dict; stored
    responses whose details were ``None`` stopped validating (fixed by PR #2792)."""
    before = _with("pydantic-ai", "pydantic-ai-slim==0.7.2", *PYDANTIC_AI_ERA)
    broken = _with("pydantic-ai", "pydantic-ai-slim==0.7.3", *PYDANTIC_AI_ERA)
    expected = read_snapshot(READ_BEFORE / "pydantic-ai-0.7-read-by-0.7.2.json")
    assert _sessions("pydantic-ai", "0.7", before) == expected
    with pytest.raises(CaseFailure) as failure:
        _sessions("pydantic-ai", "0.7", broken)
    message = str(failure.value)
    assert "no longer loads" in message and "ValidationError" in message, message
    assert "details" in message and "pydantic_ai:conversation-kinds" in message
    assert "\n" not in message


def test_llama_index_0_1_2_history_loses_roles_in_0_1_3() -> None:
    """run-llama/llama_index #12313 / PR #12802: 0.1.2 stored ``{"type": role, "content"}``
    (and dropped tool calls); 0.1.3 parses stored messages as ChatMessage, which has no
    ``type`` field, so every old message comes back with the default role ``user``."""
    store = "llama-index-storage-chat-store-redis"
    before = _with("llama-index", f"{store}==0.1.2", *LLAMA_ERA)
    broken = _with("llama-index", f"{store}==0.1.3", *LLAMA_ERA)
    expected = read_snapshot(READ_BEFORE / "llama-index-0.1-read-by-0.1.2.json")
    read_before = _sessions("llama-index", "0.1", before)
    assert read_before == expected
    after = _sessions("llama-index", "0.1", broken)
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
    # and the format runs there offline, as `memfix record --with` does
    fmt = _with("pydantic-ai", "pydantic-ai-slim==0.7.2", *PYDANTIC_AI_ERA)
    assert fmt.current_version == "0.7" and fmt.env.path == built.path
