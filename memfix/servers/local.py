"""Servers as child processes of this Python process (the default backend).

A child must never outlive the test run, even when pytest is killed with SIGKILL:
each child asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``),
and an atexit hook kills whatever is left on a normal exit. The kernel ties the
death signal to the *thread* that forked, so every child is forked from one
long-lived spawner thread; a server started from a short-lived worker thread
(e.g. a ThreadPoolExecutor in a test) then survives that thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import ServerStartError
from .lifecycle import ManagedServer
from .plumbing import LOG_NAME
from .spec import Persistence, ServerSpec, register_backend

__all__ = ["LocalServer"]

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl: Callable[..., int] = libc.prctl
    return prctl


_prctl = _load_prctl()  # resolved in the parent: the child only calls it
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memfix-spawner")


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return setup


class LocalServer(ManagedServer):
    """A redis-server/valkey-server child process listening on 127.0.0.1."""

    def __init__(
        self,
        spec: ServerSpec,
        persistence: Persistence,
        data_dir: Path,
        owns_dir: bool,
        server_args: Sequence[str] = (),
    ) -> None:
        super().__init__(spec, persistence, data_dir, owns_dir, server_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None  # of the current (or last) process, for diagnostics

    def _server_dir(self) -> str:
        return str(self.data_dir)

    def _spawn(self, args: list[str]) -> None:
        if self.spec.executable is None:
            raise ServerStartError(f"{self.spec.id}: no executable")
        argv = [str(self.spec.executable), *args]
        # stdout/stderr go to the server's own log (append mode on both sides), so
        # that config errors printed before the log opens appear in the log tail.
        with open(self.data_dir / LOG_NAME, "ab") as log:
            future = _spawner.submit(
                subprocess.Popen,
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
                start_new_session=True,  # Ctrl-C in the terminal is for pytest, not for us
                preexec_fn=_die_with_parent(os.getpid()),
            )
            try:
                self._proc = future.result()
            except OSError as exc:
                raise ServerStartError(f"{self.spec.id}: cannot run {argv[0]}: {exc}") from None
        self.pid = self._proc.pid

    def _has_exited(self) -> bool:
        return self._proc is None or self._proc.poll() is not None

    def _wait_exit(self, timeout: float) -> bool:
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _hard_kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()


register_backend("local", LocalServer.launch)
