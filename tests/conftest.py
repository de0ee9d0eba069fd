"""Shared fixtures: every test gets its own fresh, real server (no shared state)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memfix import RedisMemoryStore
from memfix.servers import Server, default_spec


@pytest.fixture
def server() -> Iterator[Server]:
    """A fresh server of the embedded default kind, stopped after the test."""
    with default_spec().start() as srv:
        yield srv


@pytest.fixture
def store(server: Server) -> Iterator[RedisMemoryStore]:
    with RedisMemoryStore(server.client) as s:
        yield s
