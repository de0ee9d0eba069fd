"""examples/chatapp, a real adopter, runs its own suite here so CI covers it; with its
loader broken the way real PRs break loaders, its goldens fail naming the keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memfix.servers import default_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chatapp"


def run_example(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--memfix-server",
            default_spec().id,
            "-rf",
        ],
        cwd=root,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_the_example_app_suite_passes() -> None:
    proc = run_example(EXAMPLE)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "8 passed" in proc.stdout


BREAKS = {
    "renamed-field": (
        "    content: str\n",
        "    text: str\n",
        ["content=d[", "text=d["],
        "sessions that differ: 'chat:alice-0.1', 'chat:alice-0.2', 'chat:alice-0.3'",
    ),
    "dropped-message-kind": (
        "        return [_load(json.loads(raw)) for raw in raws]\n",
        "        loaded = [_load(json.loads(raw)) for raw in raws]\n"
        '        return [m for m in loaded if m.role != "system"]\n',
        [],
        "'chat:alice-0.1' holds 5, read 4",
    ),
    "reads-nothing": (  # e.g. a key prefix changed in the loader only
        '        keys = self.client.scan_iter(match=f"{KEY_PREFIX}*")\n',
        '        keys = self.client.scan_iter(match="conversation:*")\n',
        [],
        "the view is empty but dump.json holds 2 keys",
    ),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_a_broken_loader_fails_the_goldens_naming_the_key(name: str, tmp_path: Path) -> None:
    old, new, renames, expected = BREAKS[name]
    root = tmp_path / "chatapp"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    store = root / "chatapp" / "store.py"
    source = store.read_text()
    assert old in source
    source = source.replace(old, new)
    for a, b in zip(renames[::2], renames[1::2], strict=True):
        source = source.replace(a, b)
    store.write_text(source)
    proc = run_example(root)
    assert proc.returncode == 1, proc.stdout[-3000:]
    # every golden, both restores; the write side reads golden and rewrite with the
    # same (broken) loader, so it fails only where that loader raises or sees nothing
    write_side = name != "dropped-message-kind"
    assert proc.stdout.count("FAILED tests/test_goldens.py") == 6 + write_side
    assert expected in proc.stdout, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout


def test_memfix_verify_on_the_example() -> None:
    """The CLI finds the example's set in its pyproject and checks every golden."""
    proc = subprocess.run(
        [sys.executable, "-m", "memfix.cli", "verify", "-q", "--server", default_spec().id],
        cwd=EXAMPLE,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: 3 golden(s) verified" in proc.stdout
    # files, json, rdb, meaning for 0.1, 0.2, 0.3, and the write side of 0.3
    assert proc.stdout.count(" ok ") == 13
