"""Servers as child processes of this Python process (the default backend).

A child must never outlive the test run, even when pytest is killed with SIGKILL.
A per-process *watchdog* (a tiny Python process holding the read end of a pipe)
learns each server's pid; when this process dies, by any means, the pipe reaches
EOF and the watchdog SIGKILLs the servers still registered (through pidfds where
the OS has them, so a recycled pid is never hit). An atexit hook stops them on a
normal exit.

The watchdog replaces ``PR_SET_PDEATHSIG`` set in a ``preexec_fn``: a preexec
function forces ``fork()`` of the whole interpreter (1.3 ms here) instead of
``vfork()`` (0.08 ms), which alone made a 2 ms server start 1.9x slower than the
binary's own start (#16); and the death signal was tied to the forking thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .errors import ServerStartError
from .lifecycle import ManagedServer
from .plumbing import LOG_NAME, environment
from .spec import Persistence, ServerSpec, register_backend

__all__ = ["LocalServer"]

_WATCHDOG = r"""
import os, signal, sys
fds = {}
for line in sys.stdin.buffer:  # EOF: the parent died (or closed us)
    op, pid = line[:1], int(line[1:])
    if op == b"+":
        try:
            fds[pid] = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else pid
        except OSError:
            pass
    elif pid in fds:
        fd = fds.pop(pid)
        if fd != pid:
            os.close(fd)
for pid, fd in fds.items():
    try:
        if fd != pid:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""


class _Watchdog:
    """Kills this process's servers when it dies; one per process (forks get their own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def _pipe(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._owner != os.getpid() or self._proc.poll() is not None:
            self._owner = os.getpid()
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,  # Ctrl-C is for pytest; the watchdog waits for EOF
                env=environment(),  # not the live environ: see environment()
            )
        return self._proc

    def _send(self, line: bytes) -> None:
        with self._lock:
            proc = self._pipe()
            assert proc.stdin is not None
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError):  # the watchdog was killed: start another
                self._proc = None
                if line.startswith(b"+"):
                    stdin = self._pipe().stdin
                    assert stdin is not None
                    stdin.write(line)
                    stdin.flush()

    def watch(self, pid: int) -> None:
        self._send(b"+%d\n" % pid)

    def forget(self, pid: int) -> None:
        self._send(b"-%d\n" % pid)


_watchdog = _Watchdog()


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
            try:
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    close_fds=True,  # the watchdog's pipe stays ours alone
                    start_new_session=True,  # Ctrl-C in the terminal is for pytest, not for us
                    env=environment(),  # any thread may start a server: see environment()
                )
            except OSError as exc:
                raise ServerStartError(f"{self.spec.id}: cannot run {argv[0]}: {exc}") from None
        self.pid = self._proc.pid
        _watchdog.watch(self.pid)

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
        _watchdog.forget(proc.pid)


register_backend("local", LocalServer.launch)
