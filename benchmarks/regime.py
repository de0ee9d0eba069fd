"""The pinned regime: client and server share one CPU.

On a 2-vCPU machine, a client on one CPU and the server on the other wake each
other across CPUs on every round trip; that adds a variable 50-100 us per call
and pulls every ratio toward 1. Pinning both to one CPU (``sched_setaffinity``,
as ``taskset`` does) makes a round trip two context switches on one CPU, so what
a contender does in Python shows in the ratio. Tables say which regime they used.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

PINNED = "pinned"
UNPINNED = "unpinned"


def pick_cpu() -> int | None:
    """The last CPU this process may run on (``None`` where affinity is unsupported)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[-1] if cpus else None


@contextmanager
def regime(name: str, server_pid: int | None, cpu: int | None) -> Iterator[str]:
    """Run the block in ``name`` regime; yields the regime actually used.

    Pinned needs the server's pid (a local server process): for a server started
    elsewhere (``--url``, a container) the run stays unpinned and says so.
    """
    if name != PINNED or cpu is None or server_pid is None:
        yield UNPINNED
        return
    mine = os.sched_getaffinity(0)
    theirs = os.sched_getaffinity(server_pid)
    os.sched_setaffinity(0, {cpu})
    os.sched_setaffinity(server_pid, {cpu})
    try:
        yield PINNED
    finally:
        os.sched_setaffinity(0, mine)
        with contextlib.suppress(ProcessLookupError):  # the server is gone already
            os.sched_setaffinity(server_pid, theirs)
