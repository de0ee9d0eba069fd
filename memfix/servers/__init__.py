"""Clean, real Redis/Valkey servers for tests and golden dumps.

The one place in memfix that knows how to find and start a server: a local child
process (the default, ~10-20 ms to ready) or a container from a pinned local Docker
image (testcontainers), plus a handle for a server the user already runs. It imports
nothing else from memfix but ``memfix.errors`` (its errors are ``MemfixError``s).

Inside, modules import only downward: errors -> spec -> plumbing/handle -> lifecycle
-> local/docker (which register themselves with ``ServerSpec.start``) -> discovery
and engine -> cluster -> this package.

A throwaway Redis Cluster of the same binaries: ``ClusterSpec(default_spec()).start()``
(see ``cluster.py``).

    from memfix.servers import default_spec, Persistence
    with default_spec().start(persistence=Persistence.AOF_ALWAYS) as srv:
        srv.client.set(b"k", b"v")
        srv.kill()
        srv.restart()
        assert srv.client.get(b"k") == b"v"
"""

from __future__ import annotations

# Importing the backends registers them with ServerSpec.start (spec.py stays below them).
from . import docker as _docker_backend  # noqa: F401
from . import local as _local_backend  # noqa: F401
from .cluster import AnySpec, Cluster, ClusterSpec, cluster_specs, select_cluster, standalone_of
from .discovery import default_spec, discover, select_spec
from .errors import (
    DatabaseNotEmpty,
    DumpTooNewError,
    ServerError,
    ServerNotFound,
    ServerStartError,
)
from .existing import connect_existing, redact_url
from .handle import Server
from .spec import Persistence, RdbHeader, ServerSpec, describe, rdb_header, server_identity

__all__ = [
    "AnySpec",
    "Cluster",
    "ClusterSpec",
    "DatabaseNotEmpty",
    "DumpTooNewError",
    "Persistence",
    "RdbHeader",
    "Server",
    "ServerError",
    "ServerNotFound",
    "ServerSpec",
    "ServerStartError",
    "cluster_specs",
    "connect_existing",
    "default_spec",
    "describe",
    "discover",
    "rdb_header",
    "redact_url",
    "select_cluster",
    "select_spec",
    "server_identity",
    "standalone_of",
]
