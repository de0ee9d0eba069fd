"""memfix: conversation memory in Redis that never forgets after a release.

Public API::

    from memfix import Message, MemoryStore, RedisMemoryStore, SchemaError
"""

from memfix.errors import CompactionConflict, MemfixError, SchemaError
from memfix.model import Message, Role, ToolCall
from memfix.schemas import CURRENT_VERSION as SCHEMA_VERSION
from memfix.store import KeyLayout, MemoryStore, RedisMemoryStore

__version__ = "0.1.0"

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
