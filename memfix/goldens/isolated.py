"""Isolated environments that run a format's scenario with *another* release of its library.

One concept: the cached environment and the format running in it
(:class:`IsolatedFormat`, the writer :func:`memfix.goldens.record` takes).

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

import fcntl
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

import redis

import memfix
from memfix.errors import FormatError, GoldenError, MemfixError
from memfix.formats import Format, Version
from memfix.formats._library import client_url

__all__ = [
    "EnvError",
    "IsolatedEnv",
    "IsolatedFormat",
    "cache_root",
    "ensure_env",
    "isolated_format",
]

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

    def run_format(
        self,
        command: str,
        ref: str,
        *args: str,
        url: str | None = None,
        project_root: Path | None = None,
    ) -> dict[str, Any]:
        """Run ``memfix.formats._child`` in this environment; its parsed JSON line.

        The checkout (and the project's root, for a format of its own) goes first on
        ``PYTHONPATH``, so the current format code runs against the pinned library;
        the server's URL travels in the environment, never on a command line.
        """
        env = dict(os.environ)
        path = [str(self.checkout)] + ([str(project_root)] if project_root else [])
        env["PYTHONPATH"] = os.pathsep.join([*path, env.get("PYTHONPATH", "")])
        env["PYTHONNOUSERSITE"] = "1"
        if url is not None:
            env["MEMFIX_CHILD_URL"] = url
        pins = " ".join(self.requirements)
        try:
            done = subprocess.run(
                [str(self.python), "-m", "memfix.formats._child", command, ref, *args],
                capture_output=True,
                text=True,
                timeout=_RUN_TIMEOUT,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EnvError(
                f"{ref} {command} with {pins} did not finish in {_RUN_TIMEOUT} s"
            ) from None
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise EnvError(f"{ref} {command} failed with {pins}: {_one_line(tail[0])}")
        try:
            result: dict[str, Any] = json.loads(lines[-1])
        except ValueError:
            raise EnvError(
                f"{ref} {command} with {pins}: unexpected output {_one_line(lines[-1], 120)!r}"
            ) from None
        return result


#: Optional Format members that do not run library code: taken from the wrapped format.
_FORWARDED = frozenset({"record_version", "json_schema", "fingerprint", "byte_stable"})


class IsolatedFormat:
    """A format's *current* code running against the library release pinned in an
    isolated environment: the writer ``memfix record --with PIN`` hands to
    :func:`memfix.goldens.record`, so recording with an older release takes the
    same path as any other recording. ``current_version`` is the version that
    release writes (for a library format, its ``MAJOR.MINOR``)."""

    def __init__(
        self,
        fmt: Format,
        ref: str,
        env: IsolatedEnv,
        *,
        version: str,
        pins: Sequence[str],
        packages: dict[str, str],
        project_root: Path | None = None,
    ) -> None:
        self.fmt = fmt
        self.ref = ref
        self.env = env
        self.name = fmt.name
        self.key_patterns = tuple(fmt.key_patterns)
        self.current_version = version
        self.pins = tuple(pins)
        self._packages = packages
        self._project_root = project_root

    def __getattr__(self, name: str) -> Any:
        """The optional protocol members are the wrapped format's (its current code)."""
        if name in _FORWARDED:
            return getattr(self.fmt, name)
        raise AttributeError(name)

    @property
    def label(self) -> str:
        """``langchain-core==0.2.*``: the pins asked for."""
        return " ".join(self.pins)

    def package_versions(self) -> dict[str, str]:
        return dict(self._packages)

    def write_scenario(self, client: redis.Redis, version: Version) -> None:
        result = self._run("write", client, str(version))
        if "error" in result:
            raise GoldenError(f"{self.name} scenario with {self.label}: {result['error']}")

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        result = self._run("read", client)
        if "error" in result:
            raise FormatError(f"with {self.label}: {result['error']}")
        sessions: dict[str, list[Any]] = result.get("sessions", {})
        return sessions

    def _run(self, command: str, client: redis.Redis, *args: str) -> dict[str, Any]:
        return self.env.run_format(
            command, self.ref, *args, url=client_url(client), project_root=self._project_root
        )


def isolated_format(
    fmt: Format,
    ref: str,
    pins: Sequence[str],
    *,
    project_root: Path | None = None,
    progress: Progress | None = None,
) -> IsolatedFormat:
    """``fmt`` (named ``ref`` in ``[tool.memfix]``) with ``pins`` installed, in the cached
    environment for them (built first if absent; offline once built)."""
    requirements = tuple(getattr(fmt, "requirements", ()))
    env = ensure_env([*pins, *requirements], progress=progress)
    info = env.run_format("info", ref, project_root=project_root)
    if "error" in info:
        raise EnvError(f"format {fmt.name!r} with {' '.join(pins)}: {info['error']}")
    return IsolatedFormat(
        fmt,
        ref,
        env,
        version=str(info["version"]),
        pins=pins,
        packages=dict(info["packages"]),
        project_root=project_root,
    )


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
    cached = _cached(target, reqs, checkout)
    if cached is not None:
        return cached
    index = _index_url()
    if not _index_reachable(index):  # fail in one line now, not after pip's retries
        raise _unreachable(reqs, index)
    root.mkdir(parents=True, exist_ok=True)
    # One build per environment at a time (pytest -n 2 may ask for it twice).
    fd = os.open(root / f".{target.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        cached = _cached(target, reqs, checkout)
        return cached if cached is not None else _build(reqs, target, checkout, say)
    finally:
        os.close(fd)  # closing releases the lock


def _cached(target: Path, reqs: tuple[str, ...], checkout: Path) -> IsolatedEnv | None:
    stamp = target / "memfix-env.json"
    if not stamp.is_file():
        return None
    data = json.loads(stamp.read_text(encoding="utf-8"))
    return IsolatedEnv(target, reqs, data["packages"], checkout)


def _build(reqs: tuple[str, ...], target: Path, checkout: Path, say: Progress) -> IsolatedEnv:
    """Build ``target`` in a staging sibling renamed into place only when complete."""
    staging = Path(tempfile.mkdtemp(prefix=f".build-{target.name}-", dir=target.parent))
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
