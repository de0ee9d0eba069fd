"""How the harness gets stores: a factory it can call, in this process or another.

Writer processes are started with ``spawn`` (no inherited sockets or locks), so
the factory travels to them by pickling: a module-level class or
``functools.partial`` works, a lambda or a closure does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from memfix.store.base import MemoryStore
from memfix.store.redis_store import RedisMemoryStore
from memfix.testing.capabilities import Capabilities

__all__ = ["FactoryFor", "RedisStoreFactory", "StoreFactory"]


class StoreFactory(Protocol):
    """Returns a new store on the same backend each call.

    ``ttl`` (seconds) and ``max_messages`` (window) are the optional store
    features the suite exercises. Declare what the stores support as a
    ``capabilities`` attribute (:class:`Capabilities`); a factory without one
    is probed, and one that raises ``NotImplementedError`` for an option lacks it.
    """

    def __call__(
        self, *, ttl: float | None = None, max_messages: int | None = None
    ) -> MemoryStore: ...


#: Builds a factory for a server URL (``RedisStoreFactory`` itself is one): how
#: helpers that start their own servers get stores of your kind.
FactoryFor = Callable[[str], StoreFactory]


@dataclass(frozen=True)
class RedisStoreFactory:
    """A picklable factory of :class:`RedisMemoryStore` on one server URL
    (a cluster node's URL with ``cluster=True``: the stores use a ``RedisCluster``)."""

    url: str
    #: RedisMemoryStore claims the whole contract.
    capabilities: ClassVar[Capabilities] = Capabilities()
    cluster: bool = False

    def __call__(
        self, *, ttl: float | None = None, max_messages: int | None = None
    ) -> RedisMemoryStore:
        return RedisMemoryStore(self.url, ttl=ttl, max_messages=max_messages, cluster=self.cluster)
