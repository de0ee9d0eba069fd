"""Proof that the golden tests catch what memfix exists to catch.

Each case copies the package, goldens and snapshots to a temporary place,
applies one change, runs the golden regression test against the copy on one
real server, and checks which golden versions fail. Known-breaking changes
must fail exactly the goldens whose data they break; a harmless refactor
must fail nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from memfix.servers import default_spec
from tests.test_record_verify import REPO

pytestmark = pytest.mark.slow

ALL = frozenset({"1.0", "1.1", "1.2", "1.3", "1.4"})


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    caught_in: frozenset[str]  # golden versions that must fail (empty: none may)


MUTATIONS = [
    Mutation(
        "drop-the-1.0-decoder",
        "memfix/schemas/__init__.py",
        '    "1.0": v1_0,\n',
        "",
        ALL,  # every golden holds 1.0 records
    ),
    Mutation(
        "break-the-1.1-decoder",
        "memfix/schemas/v1_1.py",
        "    timestamp: float\n",
        "    timestamp: int\n",
        ALL - {"1.0"},
    ),
    Mutation(
        "rename-a-field-on-the-wire",
        "memfix/schemas/v1_3.py",
        "    content: str\n",
        '    content: str = msgspec.field(name="text")\n',
        frozenset({"1.3", "1.4"}),
    ),
    Mutation(
        "change-the-timestamp-unit",
        "memfix/schemas/__init__.py",
        "record.ts_ms / 1000,  # timestamp",
        "record.ts_ms,  # timestamp",
        ALL,
    ),
    Mutation(
        "change-the-key-prefix",
        "memfix/store/keys.py",
        'prefix: str = "session"',
        'prefix: str = "chat"',
        ALL,
    ),
    Mutation(
        "reverse-the-list-order",
        "memfix/store/redis_store.py",
        "messages = decode_records(key, raws, negative_index=start < 0)",
        "messages = decode_records(key, raws[::-1], negative_index=start < 0)",
        ALL,
    ),
    Mutation(
        "make-an-optional-field-required",
        "memfix/schemas/v1_1.py",
        "    metadata: dict[str, Any] = {}\n",
        "    metadata: dict[str, Any]\n",
        ALL,  # 1.1 records without metadata, and the 1.0 -> 1.1 upcast
    ),
    Mutation(
        "change-an-enum-value",
        "memfix/schemas/v1_4.py",
        "    assistant = 2\n",
        "    assistant = 5\n",
        frozenset({"1.4"}),
    ),
    Mutation(
        "harmless-refactor",
        "memfix/schemas/__init__.py",
        "_chain",
        "_release_order",
        frozenset(),
    ),
]

FAILED = re.compile(r"^FAILED \S+\[(\d+\.\d+)-(?:rdb|json)-[^\]]+\]", re.MULTILINE)


def run_mutated(mutation: Mutation, workdir: Path) -> tuple[set[str], str]:
    copy = workdir / mutation.name
    shutil.copytree(REPO / "memfix", copy / "memfix", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "golden", copy / "golden")
    (copy / "tests").mkdir()
    for name in ("__init__.py", "test_goldens.py"):
        shutil.copy(REPO / "tests" / name, copy / "tests" / name)
    shutil.copytree(REPO / "tests" / "__snapshots__", copy / "tests" / "__snapshots__")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    target = copy / mutation.file
    source = target.read_text()
    assert mutation.old in source, f"{mutation.name}: pattern not found in {mutation.file}"
    target.write_text(source.replace(mutation.old, mutation.new))

    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    which = subprocess.run(
        [sys.executable, "-c", "import memfix; print(memfix.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert which.stdout.strip().startswith(str(copy)), "the copy must shadow the installed package"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_goldens.py",
            "-q",
            "-rf",
            "-p",
            "no:cacheprovider",
            "--memfix-server",
            default_spec().id,
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    return set(FAILED.findall(proc.stdout)), proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[set[str], str]]:
    workdir = tmp_path_factory.mktemp("mutations")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda m: run_mutated(m, workdir), MUTATIONS)
        return {m.name: r for m, r in zip(MUTATIONS, results, strict=True)}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_golden_suite_flags_exactly_the_broken_goldens(
    mutation: Mutation, outcomes: dict[str, tuple[set[str], str]]
) -> None:
    failed, output = outcomes[mutation.name]
    assert failed == set(mutation.caught_in), output[-3000:]
    if mutation.caught_in:
        # The failure explains itself: the golden version is named in a short message
        # or a snapshot diff, not only in a traceback.
        assert "no longer loads with the current code" in output or "snapshot" in output
    else:
        assert re.search(r"\b\d+ passed\b", output) and " failed" not in output
