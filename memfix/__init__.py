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

from importlib import metadata as _metadata

from memfix.errors import CompactionConflict, MemfixError, SchemaError
from memfix.model import Message, Role, ToolCall
from memfix.schemas import CURRENT_VERSION as SCHEMA_VERSION
from memfix.store import KeyLayout, MemoryStore, RedisMemoryStore

try:
    __version__ = _metadata.version("memfix")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "SCHEMA_VERSION",
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
