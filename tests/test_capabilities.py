"""Capabilities: declared, validated, probed one option at a time, and used to fit runs."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from memfix import Message, RedisMemoryStore
from memfix.servers import Persistence, Server, default_spec
from memfix.store.base import MemoryStore
from memfix.testing import (
    ALL_FIELDS,
    Capabilities,
    RedisStoreFactory,
    Workload,
    capabilities_of,
    fit_workload,
    project,
    record_data_dir,
    verify_data_dir,
)


@dataclass(frozen=True)
class TtlOnlyFactory:
    """An undeclared factory whose store has a TTL but no window."""

    url: str

    def __call__(self, *, ttl: float | None = None, max_messages: int | None = None) -> MemoryStore:
        if max_messages is not None:
            raise NotImplementedError("no window")
        return RedisMemoryStore(self.url, ttl=ttl)


def test_probing_keeps_ttl_coverage_for_a_store_without_a_window(server: Server) -> None:
    caps = capabilities_of(TtlOnlyFactory(server.url))
    assert caps.ttl and caps.sliding_ttl and not caps.window
    w, skipped = fit_workload(Workload(), caps)
    assert w.ttl == Workload().ttl and w.window_writers == 0 and w.compactors
    assert skipped == ["window"]


def test_declared_capabilities_win_over_probing(server: Server) -> None:
    assert capabilities_of(RedisStoreFactory(server.url)) == Capabilities()


def test_fit_workload_names_every_capability_it_leaves_out() -> None:
    caps = Capabilities(ttl=False, sliding_ttl=False, window=False, atomic_compaction=False)
    w, skipped = fit_workload(Workload(), caps)
    assert (w.ttl, w.window_writers, w.compactors) == (None, 0, 0)
    assert skipped == ["ttl", "window", "atomic_compaction"]
    count_only = Capabilities(seen=frozenset({"count"}))
    assert fit_workload(Workload(), count_only)[0].seen == "count"
    shared = Workload(compactors_share_sessions=True)
    assert fit_workload(shared, count_only)[1] == ["seen:history"]
    assert fit_workload(Workload(), Capabilities(seen=frozenset()))[1] == ["seen"]


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(ValueError, match="timestamp_ms"):
        Capabilities(keeps=frozenset({"role", "content", "timestamp_ms"}))
    with pytest.raises(ValueError, match="role and content"):
        Capabilities(keeps=frozenset({"content"}))
    with pytest.raises(ValueError, match="sliding_ttl needs ttl"):
        Capabilities(ttl=False)
    with pytest.raises(ValueError, match="seen"):
        Capabilities(seen=frozenset({"list"}))  # type: ignore[arg-type]


def test_missing_names_seen_forms_and_fields() -> None:
    caps = Capabilities(
        window=False, seen=frozenset({"history"}), keeps=frozenset({"role", "content"})
    )
    assert caps.missing("window", "ttl", "seen:count", "seen:history", "keeps:id") == [
        "window",
        "seen:count",
        "keeps:id",
    ]


def test_project_compares_only_the_kept_fields() -> None:
    a = Message("user", "hi", 1.0, {"k": 1})
    b = Message("user", "hi", 2.0)
    assert project([a], {"role", "content"}) == project([b], {"role", "content"})
    assert project([a], ALL_FIELDS) != project([b], ALL_FIELDS)


def test_memfix_accepts_the_seen_forms_it_declares(store: RedisMemoryStore) -> None:
    """Declared {count, history}: both work; a copy is refused with TypeError, as base.py says."""
    assert Capabilities().seen == {"count", "history"}
    store.append_messages("s", [Message("user", str(i), 1.0) for i in range(6)])
    history = store.get_history("s", limit=None)
    with pytest.raises(TypeError, match="History that get_history"):
        store.compact("s", 2, Message("system", "x", 0.0), seen=list(history))
    assert store.compact("s", 2, Message("system", "x", 0.0), seen=history) == 4
    assert store.compact("s", 1, Message("system", "y", 0.0), seen=3) == 2


def test_verify_data_dir_with_nothing_expected_is_not_a_pass(tmp_path: Path) -> None:
    spec = default_spec()
    data_dir = tmp_path / "d"
    expected = record_data_dir(spec, Persistence.RDB, data_dir, factory_for=RedisStoreFactory)
    assert len(expected) == 4
    ok = verify_data_dir(spec, Persistence.RDB, data_dir, expected, workdir=tmp_path)
    assert ok.ok, ok
    empty = verify_data_dir(spec, Persistence.RDB, data_dir, {}, workdir=tmp_path)
    assert not empty.ok and "sessions differ" in empty.error
    changed = {**expected, "plain": expected["plain"][:-1]}
    assert not verify_data_dir(spec, Persistence.RDB, data_dir, changed, workdir=tmp_path).ok


@pytest.mark.parametrize("module", ["langchain", "llama_index"])
def test_an_adapter_without_its_library_says_which_extra(module: str) -> None:
    blocked = {"langchain": "langchain_community", "llama_index": "llama_index"}[module]
    code = f"import sys; sys.modules[{blocked!r}] = None\nimport memfix.testing.adapters.{module}\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1
    assert last.startswith("ImportError: memfix.testing.adapters.") and "memfix[peers]" in last
