"""What a store claims to support, so the suite checks that and skips the rest by name.

A capability is a *claim the contract verifies*: a store that declares
``atomic_batch`` gets every batch-atomicity check, and fails them if its
batches can be split; a store that does not declare it gets those tests
skipped with ``atomic_batch`` named in the reason. Declare what your users
rely on, not only what you are sure of: an undeclared capability is never
checked.

A factory declares them as a ``capabilities`` attribute (a store instance may
too). Without one the suite assumes the full :class:`MemoryStore` contract and
probes only ``ttl`` and ``window`` (separately) by calling the factory: a
factory that raises ``NotImplementedError`` for an option lacks it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from memfix.model import Message

__all__ = [
    "ALL_FIELDS",
    "Capabilities",
    "Seen",
    "capabilities_of",
    "project",
]

#: Every field of :class:`Message`, in declaration order.
ALL_FIELDS: frozenset[str] = frozenset(Message.__struct_fields__)

#: How ``compact(seen=...)`` may be told what the summariser read:
#: ``"count"`` (how many messages it read) or ``"history"`` (the very object
#: ``get_history(session_id, limit=None)`` returned, unmodified).
Seen = Literal["count", "history"]


@dataclass(frozen=True)
class Capabilities:
    """The optional features and guarantees of one store.

    - ``idempotent_ids``: appending a message whose ``id`` the session already
      holds is a no-op (a retry after a timeout is not stored twice).
    - ``ttl``: ``make_store(ttl=...)`` expires idle sessions as a whole;
      ``sliding_ttl``: every write pushes the expiry back.
    - ``window``: ``make_store(max_messages=N)`` keeps the newest N.
    - ``atomic_batch``: ``append_messages`` lands whole or not at all, and no
      concurrent append lands inside it.
    - ``atomic_compaction``: ``compact`` replaces exactly the messages the
      summariser read; appends and compactions racing it are never lost.
    - ``seen``: which forms of ``compact(seen=...)`` the store accepts
      (empty: ``compact`` only takes the current history).
    - ``keeps``: the :class:`Message` fields a round trip preserves; the
      suite compares only these.
    """

    idempotent_ids: bool = True
    ttl: bool = True
    sliding_ttl: bool = True
    window: bool = True
    atomic_batch: bool = True
    atomic_compaction: bool = True
    seen: frozenset[Seen] = frozenset({"count", "history"})
    keeps: frozenset[str] = ALL_FIELDS

    def __post_init__(self) -> None:
        unknown = set(self.keeps) - ALL_FIELDS
        if unknown:
            raise ValueError(f"keeps names fields Message does not have: {sorted(unknown)}")
        if not {"role", "content"} <= self.keeps:
            raise ValueError("a store must keep at least role and content")
        bad_seen = set(self.seen) - {"count", "history"}
        if bad_seen:
            raise ValueError(f"seen takes 'count' and/or 'history', not {sorted(bad_seen)}")
        if self.sliding_ttl and not self.ttl:
            raise ValueError("sliding_ttl needs ttl")

    def missing(self, *names: str) -> list[str]:
        """The given capabilities this store does not declare (``seen:count`` for a seen form)."""
        out = []
        for name in names:
            if name.startswith("seen:"):
                if name[5:] not in self.seen:
                    out.append(name)
            elif name.startswith("keeps:"):
                if name[6:] not in self.keeps:
                    out.append(name)
            elif not getattr(self, name):
                out.append(name)
        return out

    def replace(self, **changes: Any) -> Capabilities:
        return dataclasses.replace(self, **changes)


def capabilities_of(factory: Any) -> Capabilities:
    """The capabilities a factory declares, or the full contract with ttl/window probed.

    Probing calls the factory with each option alone, so a store with a TTL
    but no window keeps its TTL coverage.
    """
    declared = getattr(factory, "capabilities", None)
    if isinstance(declared, Capabilities):
        return declared
    with factory() as store:
        declared = getattr(store, "capabilities", None)
    if isinstance(declared, Capabilities):
        return declared
    ttl = _supports(factory, ttl=300.0)
    window = _supports(factory, max_messages=30)
    return Capabilities(ttl=ttl, sliding_ttl=ttl, window=window)


def _supports(factory: Any, **option: Any) -> bool:
    try:
        factory(**option).close()
    except NotImplementedError:
        return False
    return True


def project(messages: Iterable[Message], keeps: Iterable[str]) -> list[dict[str, Any]]:
    """Messages reduced to the fields a store keeps, comparable with ``==``."""
    fields = [f for f in Message.__struct_fields__ if f in set(keeps)]
    return [{f: msgspec.to_builtins(getattr(m, f)) for f in fields} for m in messages]
