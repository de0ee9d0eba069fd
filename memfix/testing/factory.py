"""How the harness gets stores: a factory it can call, in this process or another.

Writer processes are started with ``spawn`` (no inherited sockets or locks), so
the factory travels to them by pickling: a module-level class or
``functools.partial`` works, a lambda or a closure does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from memfix.store.base import MemoryStore
from memfix.store.redis_store import RedisMemoryStore

__all__ = ["RedisStoreFactory", "StoreFactory"]


class StoreFactory(Protocol):
    """Returns a new store on the same backend each call.

    ``ttl`` (seconds, sliding) and ``max_messages`` (window) are the optional
    store features the suite exercises; a factory whose store lacks one raises
    ``NotImplementedError`` and the tests that need it are skipped.
    """

    def __call__(
        self, *, ttl: float | None = None, max_messages: int | None = None
    ) -> MemoryStore: ...


@dataclass(frozen=True)
class RedisStoreFactory:
    """A picklable factory of :class:`RedisMemoryStore` on one server URL
    (a cluster node's URL with ``cluster=True``: the stores use a ``RedisCluster``)."""

    url: str
    cluster: bool = False

    def __call__(
        self, *, ttl: float | None = None, max_messages: int | None = None
    ) -> RedisMemoryStore:
        return RedisMemoryStore(self.url, ttl=ttl, max_messages=max_messages, cluster=self.cluster)
