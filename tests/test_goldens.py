"""The regression test memfix exists for: every committed golden of every set in
``[tool.memfix]`` (memfix's own store; memfix's format as other writers produce
it, set ``foreign``; and the langchain, llama-index and pydantic-ai stores with
goldens written by several releases of each library),
restored into a fresh real server (from its RDB file and from its JSON dump, on
every server available), must load through the current code exactly as its
snapshot says; and the current writer, replaying the current version's scenario,
must write exactly what that version's golden holds (the write side the
committed bytes cannot see).

After an intended change to how old data loads, run
``scripts/test tests/test_goldens.py --snapshot-update`` and review the diff of
``tests/__snapshots__/test_goldens/<version>.json`` (memfix's set) or
``<set>-<version>.json`` in the PR.
"""

from __future__ import annotations

from syrupy.assertion import SnapshotAssertion

from memfix.pytest_plugin import RestoredGolden, WriteSide


def test_golden_loads_unchanged(
    memfix_golden: RestoredGolden, memfix_snapshot: SnapshotAssertion
) -> None:
    assert memfix_golden.view() == memfix_snapshot


def test_golden_is_written_unchanged(memfix_write_side: WriteSide) -> None:
    memfix_write_side.check()
