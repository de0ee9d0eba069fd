"""memfix: conversation memory in Redis that never forgets after a release.

Public API:

- ``Message``, ``ToolCall``, ``Role``: the current message model (``Role`` is the
  ``Literal`` of allowed roles: system, user, assistant, tool).
- ``MemoryStore``: the contract every store keeps; ``RedisMemoryStore``: the Redis
  implementation; ``KeyLayout``: where a session lives in the keyspace.
- ``SCHEMA_VERSION``: the wire version this code writes (every released one is read).
- ``MemfixError`` and its subclasses ``SchemaError`` (a stored record no released
  version decodes; names key, index, version and bytes) and ``CompactionConflict``.

Goldens, servers and the test kit live in ``memfix.goldens``, ``memfix.servers``
and ``memfix.testing``; the CLI is ``memfix --help``.
"""

from importlib import import_module as _import_module
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from memfix.errors import CompactionConflict, MemfixError, SchemaError

if TYPE_CHECKING:
    from memfix.model import Message, Role, ToolCall
    from memfix.schemas import CURRENT_VERSION as SCHEMA_VERSION
    from memfix.store import AsyncRedisMemoryStore, KeyLayout, MemoryStore, RedisMemoryStore

# Loaded on first use, so that ``import memfix.servers`` (or ``memfix.errors``) does not
# pull the store, the schemas and msgspec in with it.
_LAZY = {
    "Message": ("memfix.model", "Message"),
    "Role": ("memfix.model", "Role"),
    "ToolCall": ("memfix.model", "ToolCall"),
    "SCHEMA_VERSION": ("memfix.schemas", "CURRENT_VERSION"),
    "AsyncRedisMemoryStore": ("memfix.store", "AsyncRedisMemoryStore"),
    "KeyLayout": ("memfix.store", "KeyLayout"),
    "MemoryStore": ("memfix.store", "MemoryStore"),
    "RedisMemoryStore": ("memfix.store", "RedisMemoryStore"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'memfix' has no attribute {name!r}") from None
    value = getattr(_import_module(module), attr)
    globals()[name] = value
    return value


try:
    __version__ = _metadata.version("memfix")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "SCHEMA_VERSION",
    "AsyncRedisMemoryStore",
    "CompactionConflict",
    "KeyLayout",
    "MemfixError",
    "MemoryStore",
    "Message",
    "RedisMemoryStore",
    "Role",
    "SchemaError",
    "ToolCall",
    "__version__",
]
