"""Fixtures for memfix.servers tests: every discovered server, real processes only.

Docker specs are added (marked ``docker``) when an engine answers and memfix images
exist; otherwise a single skipped placeholder says why, so the skip shows in -ra.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memfix.servers import Persistence, ServerSpec, default_spec
from memfix.servers.discovery import local_specs
from memfix.servers.docker import docker_specs, engine_unavailable_reason
from tests.servers.servers_support import write_data


def _docker_params() -> list[object]:
    reason = engine_unavailable_reason()
    specs = docker_specs() if reason is None else []
    if reason is None and not specs:
        reason = "no memfix/* images: run scripts/docker-engine.sh start"
    if reason is not None:
        skip = [pytest.mark.docker, pytest.mark.skip(reason=f"Docker: {reason}")]
        return [pytest.param(None, id="docker", marks=skip)]
    return [pytest.param(s, id=s.id, marks=pytest.mark.docker) for s in specs]


LOCAL_PARAMS = [pytest.param(s, id=s.id) for s in local_specs()]
DOCKER_PARAMS = _docker_params()
ALL_PARAMS = LOCAL_PARAMS + DOCKER_PARAMS


@pytest.fixture(params=ALL_PARAMS)
def spec(request: pytest.FixtureRequest) -> ServerSpec:
    """Each discovered server, local and Docker."""
    value: ServerSpec = request.param
    return value


@pytest.fixture(scope="session")
def recorded_dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A dump of DATA saved by every local server, keyed by spec id."""
    out = tmp_path_factory.mktemp("dumps")
    dumps = {}
    for s in local_specs():
        with s.start(persistence=Persistence.NONE) as srv:
            write_data(srv.client)
            dumps[s.id] = srv.save_rdb(out / f"{s.id}.rdb")
    return dumps


@pytest.fixture(scope="session")
def oldest_dump(recorded_dumps: dict[str, Path]) -> Path:
    """A dump from the default (oldest) server: it loads everywhere."""
    return recorded_dumps[default_spec().id]
