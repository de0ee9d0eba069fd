"""The built-in format ``memfix``: memfix's own ``RedisMemoryStore``, on the protocol
like any user's format (no special path anywhere else in the golden loop)."""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import msgspec
import redis

from memfix import schemas
from memfix.formats.memfix_scenario import SCENARIO_NAME, run_scenario
from memfix.store import KeyLayout, RedisMemoryStore
from memfix.version import Version

__all__ = ["MEMFIX_FORMAT", "MemfixFormat"]


class MemfixFormat:
    """Sessions in ``session:<id>:messages`` lists of versioned records, plus the
    per-session companion keys (``{session:<id>:messages}:ids``)."""

    name = "memfix"
    scenario_name = SCENARIO_NAME
    byte_stable = True  # msgpack records of fixed field order; the scenario is seeded
    reads_cluster = True  # RedisMemoryStore takes a RedisCluster; sessions() walks every master

    def __init__(self, keys: KeyLayout | None = None) -> None:
        self.keys = keys or KeyLayout()
        messages = self.keys.pattern
        self.key_patterns: tuple[str, ...] = (
            messages,
            "{" + messages + "}:*",  # companion keys of plain session ids
            "{*}:*:" + messages,  # companion keys of hash-tagged session ids
        )

    @property
    def current_version(self) -> str:
        return schemas.CURRENT_VERSION

    def write_scenario(self, client: redis.Redis, version: Version) -> None:
        """Sessions of every shape an LLM app writes (short, long, unicode, 64 KiB,
        empty, TTL, window, batch, compacted) plus turns on the shared timeline."""
        run_scenario(client, version)

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        store = RedisMemoryStore(client, keys=self.keys)
        histories = store.get_histories(store.sessions(), limit=None)
        return {sid: msgspec.to_builtins(history) for sid, history in histories.items()}

    def record_version(self, raw: bytes) -> str | None:
        return schemas.detect_version(raw)

    def json_schema(self) -> dict[str, Any]:
        return schemas.json_schema(schemas.CURRENT_VERSION)

    def fingerprint(self, version: Version) -> str | None:
        """sha256 of a released schema module's source: goldens pin it so edits are caught."""
        module = schemas.RELEASED.get(str(version))
        if module is None:
            return None
        return hashlib.sha256(inspect.getsource(module).encode("utf-8")).hexdigest()


MEMFIX_FORMAT = MemfixFormat()
