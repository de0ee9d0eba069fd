"""The running-server handle shared by every backend, and the start/stop logic of the
servers memfix launches itself (local processes and containers).

A backend only supplies process primitives (spawn, has-exited, wait, hard-kill); the
protocol is the same everywhere: pick a free loopback port, start the server with its
data in one directory, wait until its log says "Ready to accept connections" and a raw
PING answers, and retry on another port if the log says the port was taken (another
xdist worker may have grabbed it between our probe and the server's bind).
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import redis

from .errors import ServerError, ServerStartError
from .spec import Persistence, ServerSpec

__all__ = ["LOG_NAME", "ManagedServer", "Server"]

HOST = "127.0.0.1"
DUMP_NAME = "dump.rdb"
LOG_NAME = "memfix-server.log"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 8
_READY = b"Ready to accept connections"
_PORT_TAKEN = b"Address already in use"


_swept = False


def temp_root() -> Path:
    """A per-user directory for servers' temporary data dirs (easy to find and clean)."""
    global _swept
    root = Path(tempfile.gettempdir()) / f"memfix-servers-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    if not _swept:
        _swept = True
        sweep_stale(root)
    return root


def make_temp_dir() -> Path:
    """A private data dir named after this process, so that leftovers can be swept."""
    return Path(tempfile.mkdtemp(prefix=f"srv-{os.getpid()}-", dir=temp_root()))


def sweep_stale(root: Path) -> None:
    """Remove data dirs of processes that died without cleaning up (SIGKILL, OOM)."""
    for entry in root.glob("srv-*-*"):
        pid = entry.name.split("-")[1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:
            pass


def free_port() -> int:
    """A TCP port free on loopback right now (the server may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def raw_command(port: int, command: bytes, *, host: str = HOST, timeout: float = 1.0) -> bytes:
    """Send one inline command and return the first reply line (b"" if the server closed).

    Raw sockets keep readiness polling and SHUTDOWN cheap: redis-py's client retries
    for seconds when the server goes away, which is exactly what SHUTDOWN does.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(command + b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                return reply
            if not chunk:
                break
            reply += chunk
        return reply


def _pings(port: int) -> bool:
    try:
        return raw_command(port, b"PING", timeout=0.5).startswith(b"+PONG")
    except OSError:
        return False


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read()
    except FileNotFoundError:
        return b""


def _tail(text: bytes, lines: int = 8) -> str:
    kept = text.decode("utf-8", "replace").strip().splitlines()[-lines:]
    return "\n".join("  " + line for line in kept) if kept else "  (empty log)"


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


_S = TypeVar("_S", bound="ManagedServer")


class ManagedServer(Server):
    """A server memfix started (process or container); subclasses supply the primitives."""

    _live: ClassVar[set[ManagedServer]] = set()
    _live_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, spec: ServerSpec, persistence: Persistence, data_dir: Path, owns_dir: bool
    ) -> None:
        super().__init__(spec, persistence, data_dir, HOST, 0)
        self._owns_dir = owns_dir
        self._up = False
        self._closed = False

    # -- backend primitives ------------------------------------------------
    @abc.abstractmethod
    def _server_dir(self) -> str:
        """``data_dir`` as the server process sees it."""

    @abc.abstractmethod
    def _spawn(self, args: list[str]) -> None:
        """Start the server process/container with these arguments."""

    @abc.abstractmethod
    def _has_exited(self) -> bool: ...

    @abc.abstractmethod
    def _wait_exit(self, timeout: float) -> bool:
        """Wait for the process to end by itself; True if it did."""

    @abc.abstractmethod
    def _hard_kill(self) -> None:
        """SIGKILL and reap/remove; must be idempotent and safe after exit."""

    def _exit_output(self) -> bytes:
        """Output that did not go to the log file (e.g. container stdout)."""
        return b""

    # -- lifecycle -----------------------------------------------------------
    @classmethod
    def launch(
        cls: type[_S],
        spec: ServerSpec,
        *,
        persistence: Persistence,
        dump: Path | None,
        data_dir: Path | None,
    ) -> _S:
        owns_dir = data_dir is None
        directory = make_temp_dir() if data_dir is None else data_dir
        directory.mkdir(parents=True, exist_ok=True)
        server = cls(spec, persistence, directory.resolve(), owns_dir)
        try:
            if dump is not None:
                shutil.copyfile(dump, server.data_dir / DUMP_NAME)
            if dump is not None and persistence.is_aof:
                # With appendonly on at start the server reads the (missing) AOF and
                # ignores dump.rdb: load the dump first, then switch AOF on, which
                # rewrites the loaded data into the AOF.
                server._boot(Persistence.NONE.server_args())
                server._switch_to_aof()
            else:
                server._boot(persistence.server_args())
        except BaseException:
            server._discard()
            raise
        return server

    def _base_args(self, port: int) -> list[str]:
        directory = self._server_dir()
        return [
            "--port", str(port),
            "--bind", HOST,
            "--daemonize", "no",
            "--dir", directory,
            "--dbfilename", DUMP_NAME,
            "--logfile", f"{directory}/{LOG_NAME}",
            "--loglevel", "notice",
        ]  # fmt: skip

    def _boot(self, persistence_args: list[str]) -> None:
        log = self.data_dir / LOG_NAME
        with self._live_lock:
            self._live.add(self)
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            offset = log.stat().st_size if log.exists() else 0
            self._spawn(self._base_args(port) + persistence_args)
            if self._await_ready(port, log, offset):
                self.port = port
                self._up = True
                self._drop_client()
                return
        raise ServerStartError(f"{self.spec.id}: no free port after {PORT_ATTEMPTS} attempts")

    def _await_ready(self, port: int, log: Path, offset: int) -> bool:
        """True when ready; False when the port was taken (retry); raises otherwise."""
        deadline = time.monotonic() + START_TIMEOUT
        delay = 0.001
        while True:
            if _READY in _read_from(log, offset) and _pings(port):
                return True
            if self._has_exited():
                text = _read_from(log, offset) + self._exit_output()
                self._hard_kill()
                if _PORT_TAKEN in text:
                    return False
                raise ServerStartError(
                    f"{self.spec.id} exited during start{self._where()}; log tail:\n{_tail(text)}"
                )
            if time.monotonic() > deadline:
                text = _read_from(log, offset) + self._exit_output()
                self._hard_kill()
                raise ServerStartError(
                    f"{self.spec.id} not ready after {START_TIMEOUT:.0f} s{self._where()}; "
                    f"log tail:\n{_tail(text)}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)

    def _where(self) -> str:
        # A private temp dir is removed on failure: only name a caller's directory.
        return "" if self._owns_dir else f" (data dir {self.data_dir})"

    def _switch_to_aof(self) -> None:
        fsync = "always" if self.persistence is Persistence.AOF_ALWAYS else "everysec"
        self.client.config_set("appendfsync", fsync)
        self.client.config_set("appendonly", "yes")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            info = self.client.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                if info.get("aof_last_bgrewrite_status") != "ok":
                    raise ServerStartError(f"{self.spec.id}: AOF rewrite of the dump failed")
                return
            if time.monotonic() > deadline:
                raise ServerStartError(f"{self.spec.id}: AOF rewrite of the dump did not finish")
            time.sleep(0.005)

    def _graceful_stop(self) -> None:
        """SHUTDOWN (saving for RDB), so that the data is on disk for the next start."""
        command = b"SHUTDOWN SAVE" if self.persistence is Persistence.RDB else b"SHUTDOWN"
        self._drop_client()
        try:
            reply = raw_command(self.port, command, timeout=STOP_TIMEOUT)
        except OSError:
            reply = b""
        if reply.startswith(b"-"):
            self._hard_kill()
            self._up = False
            message = reply.decode(errors="replace").strip()
            raise ServerError(f"{self.spec.id}: {command.decode()} failed: {message}")
        if not self._wait_exit(STOP_TIMEOUT):
            self._hard_kill()
        self._hard_kill()  # reap / remove what is left
        self._up = False

    @property
    def is_running(self) -> bool:
        return self._up and not self._has_exited()

    def kill(self) -> None:
        self._drop_client()
        self._hard_kill()
        self._up = False

    def restart(self) -> None:
        if self._closed:
            raise ServerError(f"{self.spec.id}: stopped for good; start a new server instead")
        if self._up and not self._has_exited():
            if self.persistence is Persistence.NONE:
                self.kill()
            else:
                self._graceful_stop()
        else:
            self.kill()
        self._boot(self.persistence.server_args())

    def stop(self) -> None:
        if self._closed:
            return
        try:
            if self._up and self.persistence is not Persistence.NONE and not self._has_exited():
                self._graceful_stop()
        finally:
            self._discard()

    def _discard(self) -> None:
        self._closed = True
        self._drop_client()
        try:
            self._hard_kill()
        finally:
            self._up = False
            with self._live_lock:
                self._live.discard(self)
            if self._owns_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)

    @classmethod
    def _cleanup_all(cls) -> None:
        with cls._live_lock:
            servers = list(cls._live)
        for server in servers:
            with contextlib.suppress(Exception):
                server._discard()


atexit.register(ManagedServer._cleanup_all)
