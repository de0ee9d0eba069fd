"""OS plumbing for servers memfix starts: data dirs, loopback ports, raw commands, logs.

Nothing here knows about a server handle: these are the small system calls every
backend shares, kept apart so that the lifecycle code reads as a protocol.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from pathlib import Path

__all__ = [
    "DUMP_NAME",
    "HOST",
    "LOG_NAME",
    "free_port",
    "log_tail",
    "make_temp_dir",
    "pings",
    "raw_command",
    "read_from",
    "sweep_stale",
    "temp_root",
]

HOST = "127.0.0.1"
DUMP_NAME = "dump.rdb"
LOG_NAME = "memfix-server.log"
MAX_PORT = 65535

_swept = False


def environment() -> dict[str, str]:
    """This process's environment, copied for a child process; safe from any thread.

    Started with ``env=None``, a child on Linux (vfork) reads the live C ``environ``
    while it execs, and another thread may be changing it meanwhile: pytest sets and
    deletes ``PYTEST_CURRENT_TEST`` around every test, the array is reallocated, and
    ``execve`` fails with EFAULT ("Bad address"; seen in CI when a golden case's server
    started in the prefetch thread). An explicit copy is read before the fork. Copying
    ``os.environ`` can itself meet a key deleted meanwhile (KeyError): it is retried.
    """
    for _ in range(100):
        try:
            return os.environ.copy()
        except (KeyError, RuntimeError):
            continue
    raise OSError("the environment kept changing while it was copied for a child process")


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


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port(*, also: int = 0, prefer: int = 0) -> int:
    """A TCP port free on loopback right now (the server may still lose a race for it).

    ``also``: the port ``+ also`` must be free too (a cluster node binds its bus on
    port + 10000). ``prefer``: try this port first (a restart keeps its address).
    """
    if (
        prefer
        and prefer + also <= MAX_PORT
        and _bindable(prefer)
        and (not also or _bindable(prefer + also))
    ):
        return prefer
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if not also or (port + also <= MAX_PORT and _bindable(port + also)):
            return port
    raise OSError(f"no free loopback port p with p+{also} free as well")


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


def pings(port: int, host: str = HOST) -> bool:
    """Whether a server answers ``PING`` with ``+PONG`` (not ``-LOADING``) on ``port``."""
    with contextlib.suppress(OSError):
        return raw_command(port, b"PING", host=host, timeout=0.5).startswith(b"+PONG")
    return False


def read_from(path: Path, offset: int) -> bytes:
    """The bytes of ``path`` after ``offset`` (b"" if it does not exist yet)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read()
    except FileNotFoundError:
        return b""


def log_tail(text: bytes, lines: int = 8) -> str:
    """The last lines of a server log, indented, for an error message."""
    kept = text.decode("utf-8", "replace").strip().splitlines()[-lines:]
    return "\n".join("  " + line for line in kept) if kept else "  (empty log)"
