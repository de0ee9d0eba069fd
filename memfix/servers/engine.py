"""The Docker engine as memfix sees it: is one answering, and which memfix images it holds.

Kept apart from the container backend (``docker.py``) so that discovery can list
images without importing the backend, which itself uses discovery to build images.
"""

from __future__ import annotations

import os
from typing import Any

from .spec import ServerSpec

__all__ = ["LABEL", "REPOSITORY", "client", "docker_specs", "engine_unavailable_reason"]

REPOSITORY = "memfix"
LABEL = "memfix"
ENGINE_TIMEOUT = 1.5


def _testcontainers_defaults() -> None:
    # Read by testcontainers when it is first imported. The reaper (Ryuk) image cannot
    # be pulled without a registry; in a container (/.dockerenv) testcontainers would
    # otherwise dial the bridge gateway instead of loopback.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
    os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")


_testcontainers_defaults()


def _docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def client(timeout: float) -> Any:
    import docker

    return docker.DockerClient(base_url=_docker_host(), timeout=timeout)


def engine_unavailable_reason(timeout: float = ENGINE_TIMEOUT) -> str | None:
    """None if a Docker engine answers a ping within ``timeout``, else why not."""
    host = _docker_host()
    if host.startswith("unix://") and not os.path.exists(host[len("unix://") :]):
        return f"no Docker socket at {host[len('unix://') :]} (see scripts/docker-engine.sh)"
    try:
        docker_client = client(timeout)
    except ImportError:
        return "the docker Python package is not installed"
    except Exception as exc:
        return f"cannot reach {host}: {exc}"
    try:
        docker_client.ping()
    except Exception as exc:
        return f"{host} does not answer: {type(exc).__name__}"
    finally:
        docker_client.close()
    return None


def docker_specs() -> list[ServerSpec]:
    """Specs for the local ``memfix/redis:*`` and ``memfix/valkey:*`` images."""
    docker_client = client(ENGINE_TIMEOUT * 4)
    try:
        specs = []
        for product in ("redis", "valkey"):
            for image in docker_client.images.list(name=f"{REPOSITORY}/{product}"):
                for tag in image.tags:
                    repository, _, version = tag.rpartition(":")
                    if repository == f"{REPOSITORY}/{product}" and version[:1].isdigit():
                        specs.append(
                            ServerSpec("docker", product, version, image=tag, source="docker")
                        )
        return sorted(specs, key=lambda s: (s.rdb_version, s.version_tuple, s.product))
    finally:
        docker_client.close()
