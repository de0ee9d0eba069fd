"""A released memfix, modelled from its frozen schema module, for mixed-fleet runs.

Release N of memfix writes schema N and reads schemas up to N; release N+1
pinned to N (``write_version``) writes N and reads up to N+1. Both are built
here from the frozen ``memfix.schemas.v*`` modules, so a fleet of "old" and
"new" processes can run from one checkout. When ``RedisMemoryStore`` takes
``write_version`` itself, :class:`ReleaseStoreFactory` uses it for the
current release (see :func:`pinned_store`).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from memfix import schemas
from memfix.errors import SchemaError
from memfix.model import Message
from memfix.store.base import MemoryStore
from memfix.store.redis_store import History, RedisMemoryStore
from memfix.testing.capabilities import Capabilities

__all__ = ["ReleaseStore", "ReleaseStoreFactory", "pinned_store"]

_CHAIN = list(schemas.RELEASED)


def _check(version: str) -> None:
    if version not in schemas.RELEASED:
        raise ValueError(f"{version} is not a released schema version ({', '.join(_CHAIN)})")


def encode_as(message: Message, version: str) -> bytes:
    """``message`` as release ``version`` would store it (fields it lacks dropped)."""
    return schemas.message_encoder(version, lossless=False)(message)


def decode_up_to(raw: bytes, version: str) -> Message:
    """Decode ``raw`` as release ``version``'s reader would: newer records fail."""
    if version == schemas.CURRENT_VERSION:
        return schemas.decode_record(raw)
    data = msgspec.to_builtins(schemas.decode_as(raw, version))
    if isinstance(data, list):  # an array-like record: its fields in order (the tag first)
        record = schemas.RELEASED[version].Record
        tagged = record.__struct_config__.tag is not None
        data = dict(zip(record.__struct_fields__, data[tagged:], strict=True))
    data.pop("v", None)
    if "ts_ms" in data:
        data["timestamp"] = data.pop("ts_ms") / 1000
    if isinstance(data.get("role"), int):
        data["role"] = schemas.RELEASED[version].Role(data["role"]).name
    calls = data.get("tool_calls") or []
    data["tool_calls"] = [
        dict(zip(("id", "name", "arguments"), c, strict=False)) if isinstance(c, list) else c
        for c in calls
    ]
    return msgspec.convert(data, Message)


class ReleaseStore(RedisMemoryStore):
    """``RedisMemoryStore`` as release ``read_up_to`` pinned to write ``write_version``.

    Appends RPUSH the release's records directly (one command per batch, so
    still atomic); TTL, window and id de-duplication are not modelled.
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        idempotent_ids=False, ttl=False, sliding_ttl=False, window=False
    )

    def __init__(self, client: Any, *, write_version: str, read_up_to: str) -> None:
        _check(write_version)
        _check(read_up_to)
        if _CHAIN.index(write_version) > _CHAIN.index(read_up_to):
            raise ValueError(f"release {read_up_to} cannot write {write_version}")
        super().__init__(client)
        self.write_version, self.read_up_to = write_version, read_up_to

    def append_message(self, session_id: str, msg: Message) -> None:
        self.append_messages(session_id, [msg])

    def append_messages(self, session_id: str, msgs: Iterable[Message]) -> None:
        records = [encode_as(m, self.write_version) for m in msgs]
        if records:
            self.client.rpush(self.keys.messages(session_id), *records)

    def get_history(self, session_id: str, limit: int | None = 100) -> History:
        if limit == 0:
            return History([], [], whole=False)
        key = self.keys.messages(session_id)
        raws: list[bytes] = self.client.lrange(key, 0 if limit is None else -limit, -1)  # type: ignore[assignment]
        messages = []
        for i, raw in enumerate(raws):
            try:
                messages.append(decode_up_to(raw, self.read_up_to))
            except SchemaError as exc:
                raise exc.located(key, i) from None
        return History(messages, raws, whole=limit is None or len(raws) < limit)


def pinned_store(url: str, write_version: str) -> MemoryStore:
    """The current release writing ``write_version``: ``RedisMemoryStore(write_version=...)``
    once the store takes it, else the modelled :class:`ReleaseStore`."""
    if "write_version" in inspect.signature(RedisMemoryStore).parameters:
        return RedisMemoryStore(url, write_version=write_version)  # type: ignore[call-arg,unused-ignore]
    return ReleaseStore(url, write_version=write_version, read_up_to=schemas.CURRENT_VERSION)


@dataclass(frozen=True)
class ReleaseStoreFactory:
    """A picklable factory of release ``release`` (writing ``write_version``, default
    its own) on one server URL; the current unpinned release is a plain
    :class:`RedisMemoryStore`."""

    url: str
    release: str = schemas.CURRENT_VERSION
    write_version: str | None = None
    capabilities: ClassVar[Capabilities] = ReleaseStore.capabilities

    def __call__(self, *, ttl: float | None = None, max_messages: int | None = None) -> MemoryStore:
        if ttl is not None or max_messages is not None:
            raise NotImplementedError("releases are modelled without TTL or window")
        writes = self.write_version or self.release
        if self.release == schemas.CURRENT_VERSION:
            if writes == schemas.CURRENT_VERSION:
                return RedisMemoryStore(self.url)
            return pinned_store(self.url, writes)
        return ReleaseStore(self.url, write_version=writes, read_up_to=self.release)
