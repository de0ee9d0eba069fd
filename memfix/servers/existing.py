"""A handle for a server the user runs (``--server-url``): used, never managed.

memfix never flushes such a server: it refuses a non-empty database unless told
``allow_write=True``, and it cannot restart or kill what it did not start.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from .errors import DatabaseNotEmpty, ServerError
from .handle import Server
from .spec import Persistence, ServerSpec, server_identity

__all__ = ["ExistingServer", "connect_existing", "redact_url"]


def redact_url(url: str) -> str:
    """``url`` without its password (userinfo or ``?password=``), for messages and logs.

    Unparseable input is shown only up to its scheme: it may hold a password
    in a form this function does not recognise.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("://", 1)[0] + "://***" if "://" in url else "***"
    netloc = parts.netloc
    if password is not None:
        host = netloc.rsplit("@", 1)[-1]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        netloc = user + host
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*"
        )
    shown = urlunsplit(parts._replace(netloc=netloc, query=query))
    if not netloc and url.startswith(f"{parts.scheme}://"):  # unix:///path keeps its slashes
        shown = f"{parts.scheme}://" + shown[len(parts.scheme) + 1 :]
    return shown


_SECRET_PARAMS = frozenset({"password", "pass", "pwd", "auth", "token", "secret"})


class ExistingServer(Server):
    """A user's server; ``stop()`` only closes our connections."""

    def __init__(self, url: str, spec: ServerSpec, persistence: Persistence, data_dir: Path):
        parts = urlsplit(url)
        super().__init__(
            spec, persistence, data_dir, parts.hostname or "localhost", parts.port or 6379
        )
        self._url = url
        self._stopped = False

    @property
    def url(self) -> str:
        return self._url

    @property
    def is_running(self) -> bool:
        if self._stopped:
            return False
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def _unsupported(self, what: str) -> ServerError:
        return ServerError(f"{redact_url(self._url)}: cannot {what} a server memfix did not start")

    def restart(self) -> None:
        raise self._unsupported("restart")

    def kill(self) -> None:
        raise self._unsupported("kill")

    def stop(self) -> None:
        self._stopped = True
        self._drop_client()

    def _dump_file(self) -> Path:
        return self.data_dir / (_config(self.client, "dbfilename") or "dump.rdb")


def _config(client: redis.Redis, name: str) -> str | None:
    with contextlib.suppress(redis.RedisError):
        reply: Any = client.config_get(name)
        value = reply.get(name.encode(), reply.get(name))
        return value.decode() if isinstance(value, bytes) else value
    return None  # CONFIG may be disabled on managed services


def connect_existing(url: str, *, allow_write: bool = False) -> Server:
    """Wrap a running server. Raises :class:`DatabaseNotEmpty` if the URL's database
    holds keys and ``allow_write`` is False (tests would mix with the user's data)."""
    shown = redact_url(url)
    try:
        client: redis.Redis = redis.Redis.from_url(
            url, decode_responses=False, socket_connect_timeout=5
        )
    except ValueError as exc:  # a malformed URL or an unknown scheme
        raise ServerError(f"{shown}: not a Redis URL: {exc}") from None
    try:
        info: dict[str, Any] = client.info("server")
        keys = int(client.dbsize())
    except redis.RedisError as exc:
        client.close()
        raise ServerError(f"{shown}: cannot use server: {exc}") from None
    if keys and not allow_write:
        client.close()
        raise DatabaseNotEmpty(
            f"{shown}: database holds {keys} keys; memfix only uses an empty database "
            "(pass allow_write=True, or --yes at the CLI, to write anyway)"
        )
    product, version, _mode = server_identity(info)
    appendonly, fsync, save = (_config(client, n) for n in ("appendonly", "appendfsync", "save"))
    if appendonly == "yes":
        persistence = Persistence.AOF_ALWAYS if fsync == "always" else Persistence.AOF_EVERYSEC
    elif save:
        persistence = Persistence.RDB
    else:
        persistence = Persistence.NONE
    data_dir = Path(_config(client, "dir") or ".")
    client.close()
    spec = ServerSpec("existing", product, version, source=shown)
    return ExistingServer(url, spec, persistence, data_dir)
