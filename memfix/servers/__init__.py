"""Clean, real Redis/Valkey servers for tests and golden dumps.

The one place in memfix that knows how to find and start a server: a local child
process (the default, ~10-20 ms to ready) or a container from a pinned local Docker
image (testcontainers), plus a handle for a server the user already runs. It imports
nothing else from memfix.

    from memfix.servers import default_spec, Persistence
    with default_spec().start(persistence=Persistence.AOF_ALWAYS) as srv:
        srv.client.set(b"k", b"v")
        srv.kill()
        srv.restart()
        assert srv.client.get(b"k") == b"v"
"""

from __future__ import annotations

from .discovery import default_spec, discover, select_spec
from .errors import (
    DatabaseNotEmpty,
    DumpTooNewError,
    ServerError,
    ServerNotFound,
    ServerStartError,
)
from .existing import connect_existing, redact_url
from .server import Server
from .spec import Persistence, RdbHeader, ServerSpec, describe, rdb_header

__all__ = [
    "DatabaseNotEmpty",
    "DumpTooNewError",
    "Persistence",
    "RdbHeader",
    "Server",
    "ServerError",
    "ServerNotFound",
    "ServerSpec",
    "ServerStartError",
    "connect_existing",
    "default_spec",
    "describe",
    "discover",
    "rdb_header",
    "redact_url",
    "select_spec",
]
