"""AsyncRedisMemoryStore: the reusable contract (through a sync facade, so it is the
same suite) on every standalone server and on a cluster, goldens decoded through the
async read path, and 100 concurrent async writers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from memfix import AsyncRedisMemoryStore, Message
from memfix.goldens import Golden, find_goldens, restore_dump
from memfix.servers import ClusterSpec, ServerSpec, default_spec, discover
from memfix.testing import MemoryStoreContract, check_history, summarize, tag
from memfix.testing.async_bridge import AsyncStoreFactory
from tests.cluster_support import clean_cluster, cluster_params

ROOT = Path(__file__).resolve().parent.parent
GOLDENS = find_goldens(ROOT / "golden")
SNAPSHOTS = Path(__file__).parent / "__snapshots__" / "test_goldens"


@pytest.fixture(params=[pytest.param(s, id=s.id) for s in discover(docker=False)])
def spec(request: pytest.FixtureRequest) -> ServerSpec:
    value: ServerSpec = request.param
    return value


class TestAsyncContract(MemoryStoreContract):
    @pytest.fixture
    def make_store(self, spec: ServerSpec) -> Iterator[AsyncStoreFactory]:
        with spec.start() as server:
            yield AsyncStoreFactory(server.url)


@pytest.fixture(params=cluster_params()[:1])
def cluster_spec(request: pytest.FixtureRequest) -> ClusterSpec:
    value: ClusterSpec = request.param
    return value


class TestAsyncClusterContract(MemoryStoreContract):
    @pytest.fixture
    def make_store(self, cluster_spec: ClusterSpec) -> AsyncStoreFactory:
        return AsyncStoreFactory(clean_cluster(cluster_spec).url, cluster=True)


async def _async_sessions(store: AsyncRedisMemoryStore) -> dict[str, Any]:
    return {
        sid: msgspec.to_builtins(await store.get_history(sid, limit=None))
        for sid in await store.sessions()
    }


@pytest.mark.parametrize("golden", GOLDENS, ids=[g.version for g in GOLDENS])
def test_goldens_decode_the_same_through_the_async_read_path(golden: Golden) -> None:
    expected = msgspec.json.decode((SNAPSHOTS / f"{golden.version}.json").read_bytes())
    assert expected["sessions"], "a golden without sessions checks nothing"
    with default_spec().start() as server:
        restore_dump(golden.dump, server.client)

        async def read(tamper: bool) -> dict[str, Any]:
            async with AsyncRedisMemoryStore(server.url) as store:
                if tamper:  # the comparison can fail: one changed message shows
                    sid = (await store.sessions())[0]
                    await store.append_message(sid, Message("user", "tampered", 1.0))
                sessions = await _async_sessions(store)
                histories = await store.get_histories(await store.sessions(), limit=None)
                assert msgspec.to_builtins(histories) == sessions  # the batch read agrees
                return sessions

        assert asyncio.run(read(False)) == expected["sessions"]
        assert asyncio.run(read(True)) != expected["sessions"]


async def _writers(store: AsyncRedisMemoryStore, tasks: int, per_task: int) -> dict[str, list[str]]:
    """``tasks`` concurrent writers on 10 sessions, one compactor per session."""
    acked: dict[str, list[str]] = {f"s{i}": [] for i in range(10)}

    async def write(n: int) -> None:
        sid = f"s{n % 10}"
        for seq in range(per_task):
            m = Message("user", tag(f"w{n}", seq), float(seq))
            await store.append_message(sid, m)
            acked[sid].append(m.content)

    async def compact(sid: str) -> None:
        for _ in range(3):
            await asyncio.sleep(0.01)
            history = await store.get_history(sid, limit=None)
            if len(history) > 4:
                await store.compact(sid, 2, summarize(history[:-2]), seen=history)

    await asyncio.gather(*[write(n) for n in range(tasks)], *[compact(s) for s in acked])
    return acked


def test_100_concurrent_async_writers_lose_nothing() -> None:
    with default_spec().start() as server:

        async def run() -> None:
            async with AsyncRedisMemoryStore(server.url) as store:
                acked = await _writers(store, 100, 20)
                for sid, tags in acked.items():
                    check = check_history(await store.get_history(sid, limit=None), tags)
                    assert check.ok and check.acknowledged == len(tags) > 0, check.describe()
                # the check can fail: a lost session shows as lost messages
                await store.delete_session("s0")
                check = check_history(await store.get_history("s0", limit=None), acked["s0"])
                assert check.lost == len(acked["s0"])

        asyncio.run(run())


@pytest.mark.parametrize("cluster_spec", cluster_params(), indirect=True)
def test_100_concurrent_async_writers_on_a_cluster(cluster_spec: ClusterSpec) -> None:
    cluster = clean_cluster(cluster_spec)

    async def run() -> None:
        client = AsyncRedisCluster(host=cluster.masters[0].host, port=cluster.masters[0].port)
        async with AsyncRedisMemoryStore(client) as store:
            acked = await _writers(store, 100, 10)
            assert await store.sessions() == sorted(acked)
            for sid, tags in acked.items():
                check = check_history(await store.get_history(sid, limit=None), tags)
                assert check.ok and check.acknowledged == len(tags) > 0, check.describe()
        await client.aclose()

    asyncio.run(run())
