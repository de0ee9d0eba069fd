"""The package boundary: ``pip install memfix`` is the store alone; the toolkit is an extra.

A user who wants ``RedisMemoryStore`` should not get pytest, syrupy, Docker
clients and a CLI framework in production, nor the ``memfix`` command ending
in a traceback when they are absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = {"redis", "hiredis", "msgspec"}
TOOLKIT = {"click", "pytest", "syrupy", "testcontainers", "docker"}


def test_runtime_requirements_are_the_store_only() -> None:
    requirements = [Requirement(r) for r in metadata.requires("memfix") or []]
    runtime = {r.name for r in requirements if r.marker is None or "extra" not in str(r.marker)}
    assert runtime == RUNTIME
    test_extra = {r.name for r in requirements if r.marker and 'extra == "test"' in str(r.marker)}
    assert test_extra >= TOOLKIT


@pytest.mark.slow
def test_plain_install_in_a_fresh_venv(tmp_path: Path) -> None:
    """Installs this checkout into a new venv (no extras) and uses the store's import path."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        env=environ,
    )
    if install.returncode != 0:
        pytest.fail(f"pip install failed:\n{install.stderr[-2000:]}")
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
        env=environ,
    ).stdout
    installed = {line.split("==")[0].lower() for line in listed.splitlines()}
    pulled = installed & TOOLKIT
    assert not pulled, f"the plain install pulled toolkit packages: {pulled}"
    assert installed >= RUNTIME
    subprocess.run(
        [python, "-c", "import memfix; memfix.RedisMemoryStore; memfix.Message('user', 'hi')"],
        check=True,
        env=environ,
        timeout=60,
    )
    cli = subprocess.run(
        [env_dir / "bin" / "memfix", "--help"], capture_output=True, text=True, env=environ
    )
    assert cli.returncode != 0
    assert cli.stderr.strip().splitlines() == [
        "Error: the memfix command needs the toolkit (click is missing): pip install 'memfix[test]'"
    ]


def test_console_script_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from memfix._entry import main; main()", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("memfix, version")
