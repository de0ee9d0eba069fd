"""The handle of a running server, whatever started it: where it listens, how to talk to it."""

from __future__ import annotations

import abc
import contextlib
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from .errors import ServerError
from .plumbing import DUMP_NAME
from .spec import Persistence, ServerSpec

__all__ = ["Server"]


class Server(abc.ABC):
    """A running Redis/Valkey server: where it listens and how to talk to it.

    ``client`` is a shared ``redis.Redis`` (bytes replies) that is replaced after
    ``restart()`` because the port may change; use ``new_client()`` for more.
    """

    def __init__(
        self, spec: ServerSpec, persistence: Persistence, data_dir: Path, host: str, port: int
    ) -> None:
        self.spec = spec
        self.persistence = persistence
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self._client: redis.Redis | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self, **kwargs: Any) -> redis.Redis:
        """A new client for this server; keyword arguments go to ``redis.Redis.from_url``."""
        kwargs.setdefault("decode_responses", False)
        kwargs.setdefault("socket_connect_timeout", 5)
        return redis.Redis.from_url(self.url, **kwargs)

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def info(self) -> dict[str, Any]:
        """``INFO server`` as a dict (redis_version, valkey_version, process_id, ...)."""
        result: dict[str, Any] = self.client.info("server")
        return result

    def save_rdb(self, dest: Path) -> Path:
        """Run SAVE and copy the dump out to ``dest`` (how goldens are recorded)."""
        self.client.save()
        source = self._dump_file()
        if not source.is_file():
            raise ServerError(f"{self.spec.id}: SAVE wrote no file at {source}")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        return dest

    def _dump_file(self) -> Path:
        return self.data_dir / DUMP_NAME

    @property
    @abc.abstractmethod
    def is_running(self) -> bool: ...

    @abc.abstractmethod
    def restart(self) -> None:
        """Stop (gracefully, so RDB persistence saves) and start again on the same data."""

    @abc.abstractmethod
    def kill(self) -> None:
        """Kill without warning, like a crash (idempotent); ``restart()`` brings it back."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop for good and release resources (idempotent)."""

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<{type(self).__name__} {self.spec.id} {self.url} {state}>"
