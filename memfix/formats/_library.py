"""What the built-in formats of third-party libraries share.

A library format writes its scenario and reads its sessions through the
library's *own* API, whatever release of that library is installed (the
current one in the project's environment, an older one in an isolated
environment built by :mod:`memfix.goldens.isolated`). So everything here is
version-tolerant and imports no library at module import time.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from typing import Any
from urllib.parse import quote

import redis

from memfix.errors import MissingDependency

__all__ = [
    "FIXED_TIME",
    "LibraryFormat",
    "accepted",
    "build",
    "client_url",
    "installed_version",
    "jsonable",
    "keys_matching",
    "major_minor",
]

#: The clock every scenario pins (libraries stamp wall-clock times by default).
FIXED_TIME = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or ``None`` when it is absent."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def major_minor(version: str) -> str:
    """``"0.14.25"`` -> ``"0.14"``: a golden directory name for a library release line."""
    parts = version.split(".")
    return ".".join(p.split("+")[0].rstrip("abcdefghijklmnopqrstuvwxyz") or "0" for p in parts[:2])


class LibraryFormat:
    """Shared shape of the built-in library formats (:class:`memfix.formats.Format`s).

    ``current_version`` is the ``MAJOR.MINOR`` of :attr:`distribution` as
    installed, because for a library format "the current code" *is* the
    installed release: a golden recorded with langchain-core 0.3.x lives in
    ``golden/langchain/0.3/``. A release line of a library is not a schema
    version memfix controls, so these formats have no ``record_version``,
    ``json_schema`` or ``fingerprint``; ``package_versions`` pins the exact
    releases in the manifest instead, and ``requirements`` is what an
    isolated environment (``memfix record --with``) installs besides the pins.
    """

    name: str
    distribution: str  # the package whose release line names the golden
    packages: tuple[str, ...]  # every distribution whose exact version a manifest records
    requirements: tuple[str, ...]  # what an isolated environment installs besides the pins
    key_patterns: tuple[str, ...]

    @property
    def scenario_name(self) -> str:
        return f"{self.name}-chat/1"

    @property
    def current_version(self) -> str:
        version = installed_version(self.distribution)
        if version is None:
            raise MissingDependency(
                f"format {self.name!r} needs {self.distribution}: pip install 'memfix[formats]'"
            )
        return major_minor(version)

    def package_versions(self) -> dict[str, str]:
        """Exact installed versions of the packages that shape this format."""
        found = {p: installed_version(p) for p in self.packages}
        return {p: v for p, v in sorted(found.items()) if v is not None}


def client_url(client: redis.Redis) -> str:
    """A ``redis://`` URL for the server ``client`` talks to (libraries want URLs)."""
    kw = client.connection_pool.connection_kwargs
    auth = ""
    if kw.get("password"):
        user = quote(str(kw.get("username") or ""), safe="")
        auth = f"{user}:{quote(str(kw['password']), safe='')}@"
    if kw.get("path"):
        return f"unix://{auth}{kw['path']}?db={kw.get('db', 0)}"
    return f"redis://{auth}{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def keys_matching(client: redis.Redis, pattern: str) -> Iterator[str]:
    """Keys matching ``pattern``, sorted, as text."""
    keys = (k.decode("utf-8", "backslashreplace") for k in client.scan_iter(match=pattern))
    yield from sorted(keys)


def accepted(cls: Any, **kwargs: Any) -> dict[str, Any]:
    """The keyword arguments ``cls`` knows, so one scenario runs on old and new releases.

    Works for dataclasses (pydantic-ai) and pydantic models (langchain,
    llama-index); fields a release lacks are left out, never smuggled in as
    extras that the release would store under a name it does not read.
    """
    if dataclasses.is_dataclass(cls):
        names = {f.name for f in dataclasses.fields(cls) if f.init}
    else:
        fields = getattr(cls, "model_fields", None) or getattr(cls, "__fields__", {})
        names = set(fields)
    return {k: v for k, v in kwargs.items() if k in names}


def build(cls: Any, **kwargs: Any) -> Any:
    """``cls(**accepted(cls, **kwargs))``."""
    return cls(**accepted(cls, **kwargs))


def jsonable(value: Any) -> Any:
    """Plain JSON builtins (datetimes and other scalars as their ``str``)."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))
