"""memfix.testing's reusable contract, run against RedisMemoryStore on every server.

Each test starts its own fresh server of the parametrized kind. Docker specs
run when an engine answers; otherwise one ``docker`` case is skipped with the
reason, so the report says why the container backends did not run.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from memfix.servers import ServerNotFound, ServerSpec, discover
from memfix.testing import MemoryStoreContract, RedisStoreFactory


@functools.lru_cache(maxsize=1)
def _docker() -> tuple[list[ServerSpec], str]:
    try:
        return [s for s in discover(docker=True) if s.backend == "docker"], ""
    except ServerNotFound as exc:
        return [], str(exc)


def server_params(*, heavy: bool = False) -> list[object]:
    """Every local server (or, for ``heavy`` runs, the oldest and newest), plus Docker."""
    local = discover(docker=False)
    if heavy and len(local) > 2:
        local = [local[0], local[-1]]
    params: list[object] = [pytest.param(s, id=s.id) for s in local]
    docker, reason = _docker()
    if heavy and len(docker) > 2:
        docker = [docker[0], docker[-1]]
    params += [pytest.param(s, id=s.id, marks=pytest.mark.docker) for s in docker]
    if not docker:
        skip = pytest.mark.skip(reason=reason or "discover() found no Docker images")
        params.append(pytest.param(None, id="docker", marks=[pytest.mark.docker, skip]))
    return params


@pytest.fixture(params=server_params())
def spec(request: pytest.FixtureRequest) -> ServerSpec:
    result: ServerSpec = request.param
    return result


class TestRedisContract(MemoryStoreContract):
    @pytest.fixture
    def make_store(self, spec: ServerSpec) -> Iterator[RedisStoreFactory]:
        with spec.start() as server:
            yield RedisStoreFactory(server.url)
