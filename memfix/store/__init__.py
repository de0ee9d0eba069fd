"""Stores: the ``MemoryStore`` contract and its Redis implementation."""

from memfix.store.async_store import AsyncRedisMemoryStore
from memfix.store.base import MemoryStore
from memfix.store.keys import KeyLayout
from memfix.store.redis_store import History, RedisMemoryStore

__all__ = ["AsyncRedisMemoryStore", "History", "KeyLayout", "MemoryStore", "RedisMemoryStore"]
