"""Isolated environments that run a format's scenario with *another* release of its library.

``memfix record --with 'langchain-core==0.3.*'`` must write a golden exactly as
an app on that release wrote its data. The environment is a plain venv under
``~/.cache/memfix/envs/<hash>`` (``MEMFIX_CACHE`` moves the root), named by a
hash of the Python version, the requirements and memfix's own dependencies,
built once with pip (memfix from the checkout plus the pins) and then reused
with no network at all. It is built in a temporary sibling directory and
renamed into place, so an interrupted build is never mistaken for a cached one.

The checkout's source directory is put first on ``PYTHONPATH`` when the
scenario runs, so the *current* format code runs against the *pinned* library.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import memfix
from memfix.errors import MemfixError

__all__ = ["EnvError", "IsolatedEnv", "cache_root", "ensure_env"]

Progress = Callable[[str], None]

#: pip output that means "the package index cannot be reached", not "no such version".
_UNREACHABLE = (
    "NewConnectionError",
    "Connection refused",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "ProxyError",
    "ConnectTimeoutError",
    "Network is unreachable",
    "Max retries exceeded",
)
_PIP_TIMEOUT = 1800  # seconds for one environment build (llama-index pulls ~100 packages)
_RUN_TIMEOUT = 300


class EnvError(MemfixError):
    """An isolated environment that cannot be built or whose scenario run failed."""


def cache_root() -> Path:
    """``$MEMFIX_CACHE/envs`` or ``~/.cache/memfix/envs``."""
    base = os.environ.get("MEMFIX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "memfix"
    )
    return Path(base) / "envs"


def _checkout() -> Path:
    """The source tree memfix is imported from (holds ``memfix/`` and ``pyproject.toml``)."""
    root = Path(memfix.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise EnvError(f"{root}: not a memfix checkout (no pyproject.toml); isolated envs need one")
    return root


def _memfix_dependencies(checkout: Path) -> list[str]:
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python 3.10: the whole file stands in for its dependency list
        return [hashlib.sha256((checkout / "pyproject.toml").read_bytes()).hexdigest()]
    data = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))
    return sorted(data["project"]["dependencies"])


def _env_key(requirements: Sequence[str], checkout: Path) -> str:
    ident = {
        "python": list(sys.version_info[:2]),
        "implementation": sys.implementation.name,
        "requirements": sorted(set(requirements)),
        "memfix_dependencies": _memfix_dependencies(checkout),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _index_url() -> str:
    return os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/"


def _index_reachable(url: str, timeout: float = 10.0) -> bool:
    """Whether the index answers at all (any HTTP status counts as an answer)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _unreachable(requirements: Sequence[str], index: str) -> EnvError:
    wanted = " ".join(requirements) or "memfix"
    return EnvError(
        f"cannot build the environment for {wanted}: the package index ({index}) "
        "cannot be reached and no cached environment matches"
    )


def _pip_failure(requirements: Sequence[str], output: str) -> EnvError:
    wanted = " ".join(requirements) or "memfix"
    if any(marker in output for marker in _UNREACHABLE):
        return _unreachable(requirements, _index_url())
    errors = [ln for ln in output.splitlines() if ln.startswith("ERROR:")]
    reason = _one_line(
        errors[0]
        if errors
        else output.strip().splitlines()[-1:][0]
        if output.strip()
        else "pip failed"
    )
    return EnvError(f"cannot build the environment for {wanted}: {reason}")


@dataclass(frozen=True)
class IsolatedEnv:
    """A built environment: its directory, requirements and exact installed versions."""

    path: Path
    requirements: tuple[str, ...]
    packages: dict[str, str]
    checkout: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def run_format(self, command: str, format_name: str, url: str, *args: str) -> dict[str, Any]:
        """Run ``memfix.formats._child`` in this environment; its parsed JSON line."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.checkout) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONNOUSERSITE"] = "1"
        try:
            done = subprocess.run(
                [str(self.python), "-m", "memfix.formats._child", command, format_name, url, *args],
                capture_output=True,
                text=True,
                timeout=_RUN_TIMEOUT,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EnvError(
                f"{self.path}: the {format_name} scenario did not finish in {_RUN_TIMEOUT} s"
            ) from None
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            pins = " ".join(self.requirements)
            raise EnvError(f"{format_name} {command} failed with {pins}: {_one_line(tail[0])}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result


def ensure_env(requirements: Sequence[str], *, progress: Progress | None = None) -> IsolatedEnv:
    """The cached environment for ``requirements``, built first if absent.

    A cached environment is used as is, with no network; a missing one is
    built with pip, and an unreachable index is one line naming the index.
    """
    say = progress or (lambda _: None)
    checkout = _checkout()
    reqs = tuple(requirements)
    root = cache_root()
    target = root / _env_key(reqs, checkout)
    stamp = target / "memfix-env.json"
    if stamp.is_file():
        data = json.loads(stamp.read_text(encoding="utf-8"))
        return IsolatedEnv(target, reqs, data["packages"], checkout)
    index = _index_url()
    if not _index_reachable(index):  # fail in one line now, not after pip's retries
        raise _unreachable(reqs, index)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".build-{target.name}-", dir=root))
    try:
        say(f"building an isolated environment for {' '.join(reqs)} in {target}")
        subprocess.run(
            [sys.executable, "-m", "venv", str(staging)],
            check=True,
            capture_output=True,
            timeout=_PIP_TIMEOUT,
        )
        pip = [
            str(staging / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
        ]
        pip += ["--retries", "1", "--timeout", "15", "--progress-bar", "off"]
        done = subprocess.run(
            [*pip, str(checkout), *reqs],
            capture_output=True,
            text=True,
            timeout=_PIP_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise _pip_failure(reqs, done.stdout + "\n" + done.stderr)
        frozen = subprocess.run(
            [
                str(staging / "bin" / "python"),
                "-m",
                "pip",
                "list",
                "--format=json",
                "--disable-pip-version-check",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        packages = {
            p["name"]: p["version"]
            for p in json.loads(frozen.stdout)
            if p["name"].lower() not in ("memfix", "pip", "setuptools", "wheel")
        }
        stamp_data: dict[str, Any] = {
            "requirements": list(reqs),
            "packages": dict(sorted(packages.items())),
        }
        (staging / "memfix-env.json").write_text(json.dumps(stamp_data, indent=2) + "\n")
        # venvs hard-code their own path in scripts; the interpreter itself is
        # position-independent, and memfix only ever runs `bin/python -m ...`.
        staging.rename(target)
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        raise EnvError(
            f"building the environment for {' '.join(reqs)} took over {_PIP_TIMEOUT} s"
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say(f"environment ready: {target}")
    return IsolatedEnv(target, reqs, stamp_data["packages"], checkout)
