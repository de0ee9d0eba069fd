"""Starting and stopping the servers memfix launches itself (processes and containers).

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
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, TypeVar

from .errors import ServerError, ServerStartError
from .handle import Server
from .plumbing import (
    DUMP_NAME,
    HOST,
    LOG_NAME,
    free_port,
    log_tail,
    make_temp_dir,
    pings,
    raw_command,
    read_from,
)
from .spec import Persistence, ServerSpec

__all__ = ["ManagedServer"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 8
#: A cluster node also binds its bus on port + 10000 (Redis 6.2 has no --cluster-port).
CLUSTER_BUS_OFFSET = 10000
# Readiness is polled every 0.2 ms for the first 0.2 s (a server is up in 3-40 ms:
# a coarser or growing interval adds up to half an interval to every start), then
# less often, so a slow start does not spin.
_FINE_POLL_S = 0.0002
_FINE_WINDOW_S = 0.2
_COARSE_POLL_S = 0.01
_READY = b"Ready to accept connections"
_PORT_TAKEN = b"Address already in use"

_S = TypeVar("_S", bound="ManagedServer")


class ManagedServer(Server):
    """A server memfix started (process or container); subclasses supply the primitives."""

    _live: ClassVar[set[ManagedServer]] = set()
    _live_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        spec: ServerSpec,
        persistence: Persistence,
        data_dir: Path,
        owns_dir: bool,
        server_args: Sequence[str] = (),
    ) -> None:
        super().__init__(spec, persistence, data_dir, HOST, 0)
        self._owns_dir = owns_dir
        self._extra_args = list(server_args)
        self._bus_offset = CLUSTER_BUS_OFFSET if "--cluster-enabled" in self._extra_args else 0
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
        server_args: Sequence[str] = (),
    ) -> _S:
        owns_dir = data_dir is None
        directory = make_temp_dir() if data_dir is None else data_dir
        directory.mkdir(parents=True, exist_ok=True)
        server = cls(spec, persistence, directory.resolve(), owns_dir, server_args)
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
        prefer = self.port  # a restart keeps its address when it can (cluster peers know it)
        for _ in range(PORT_ATTEMPTS):
            port = free_port(also=self._bus_offset, prefer=prefer)
            prefer = 0
            offset = log.stat().st_size if log.exists() else 0
            self._spawn(self._base_args(port) + persistence_args + self._extra_args)
            if self._await_ready(port, log, offset):
                self.port = port
                self._up = True
                self._drop_client()
                return
        raise ServerStartError(f"{self.spec.id}: no free port after {PORT_ATTEMPTS} attempts")

    def _await_ready(self, port: int, log: Path, offset: int) -> bool:
        """True when ready; False when the port was taken (retry); raises otherwise.

        The log line proves that *this* server bound the port (another xdist
        worker's server may answer a PING on it); the PING that the server
        answers, not just accepts, proves it is serving.
        """
        start = time.monotonic()
        deadline = start + START_TIMEOUT
        while True:
            if _READY in read_from(log, offset) and pings(port):
                return True
            if self._has_exited():
                text = read_from(log, offset) + self._exit_output()
                self._hard_kill()
                if _PORT_TAKEN in text:
                    return False
                raise ServerStartError(
                    f"{self.spec.id} exited during start{self._where()}; log tail:\n"
                    f"{log_tail(text)}"
                )
            now = time.monotonic()
            if now > deadline:
                text = read_from(log, offset) + self._exit_output()
                self._hard_kill()
                raise ServerStartError(
                    f"{self.spec.id} not ready after {START_TIMEOUT:.0f} s{self._where()}; "
                    f"log tail:\n{log_tail(text)}"
                )
            time.sleep(_FINE_POLL_S if now - start < _FINE_WINDOW_S else _COARSE_POLL_S)

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
