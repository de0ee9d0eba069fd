"""Servers in Docker containers through testcontainers, from pinned local images.

Images are never pulled (CI has no registry access and ``latest`` would break RDB
goldens silently): ``build_images()`` packs a local server binary, the libraries
``ldd`` lists and ``/bin/sh`` into ``memfix/<product>:<version>`` with ``docker import``.
Containers use host networking and listen on 127.0.0.1 only, so all traffic stays on
loopback; the data dir is a host directory mounted at /data and the server runs
with the caller's uid, so the host can read its log and remove its files.

Run ``python -m memfix.servers.docker build`` to build images from every local
server, ``... clean`` to remove containers left by killed test runs (label memfix=1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .discovery import local_specs
from .engine import LABEL, REPOSITORY, client, docker_specs, engine_unavailable_reason
from .errors import ServerError, ServerStartError
from .lifecycle import ManagedServer
from .spec import Persistence, ServerSpec, register_backend

__all__ = [
    "DockerServer",
    "build_images",
    "docker_specs",
    "engine_unavailable_reason",
    "remove_leftovers",
]


class DockerServer(ManagedServer):
    """A server in a container on the host network, bound to 127.0.0.1."""

    def __init__(
        self,
        spec: ServerSpec,
        persistence: Persistence,
        data_dir: Path,
        owns_dir: bool,
        server_args: Sequence[str] = (),
    ) -> None:
        super().__init__(spec, persistence, data_dir, owns_dir, server_args)
        self._container: Any = None  # testcontainers DockerContainer
        self.container_id: str | None = None

    def _server_dir(self) -> str:
        return "/data"

    def _wrapped(self) -> Any:
        return self._container.get_wrapped_container() if self._container is not None else None

    def _spawn(self, args: list[str]) -> None:
        from docker.errors import ImageNotFound
        from testcontainers.core.container import DockerContainer

        image = self.spec.image
        if not image:
            raise ServerStartError(f"{self.spec.id}: no image")
        container = DockerContainer(image).with_kwargs(
            network="host",  # no published ports; the server binds 127.0.0.1 itself
            user=f"{os.getuid()}:{os.getgid()}",
            labels={LABEL: "1", f"{LABEL}.pid": str(os.getpid())},
        )
        container.with_command(args)
        container.with_volume_mapping(str(self.data_dir), "/data", "rw")
        try:
            container.get_docker_client().client.images.get(image)  # never pull
        except ImageNotFound:
            raise ServerStartError(
                f"{self.spec.id}: image {image} not found; "
                "build it with `python -m memfix.servers.docker build`"
            ) from None
        self._container = container
        container.start()
        self.container_id = container.get_wrapped_container().id

    def _has_exited(self) -> bool:
        wrapped = self._wrapped()
        if wrapped is None:
            return True
        try:
            wrapped.reload()
        except Exception:
            return True
        return wrapped.status in ("exited", "dead")

    def _wait_exit(self, timeout: float) -> bool:
        wrapped = self._wrapped()
        if wrapped is None:
            return True
        try:
            wrapped.wait(timeout=timeout)
        except Exception:
            return self._has_exited()
        return True

    def _exit_output(self) -> bytes:
        wrapped = self._wrapped()
        try:
            logs: bytes = wrapped.logs() if wrapped is not None else b""
        except Exception:
            return b""
        return logs

    def _hard_kill(self) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        try:
            container.get_wrapped_container().remove(force=True)
        except Exception:  # already gone (NotFound) or being removed (409)
            pass
        finally:
            container.get_docker_client().client.close()


def _ldd(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
    libs: list[Path] = []
    for line in out.splitlines():
        line = line.strip()
        if "not found" in line:
            raise ServerError(f"{binary}: missing shared library: {line}")
        path = line.split("=>")[-1].strip().split(" (")[0].strip()
        if path.startswith("/"):
            libs.append(Path(path))
    return libs


def _put(rootfs: Path, source: Path, dest: str, mode: int | None = None) -> None:
    target = rootfs / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)  # follows symlinks: the image holds real files
    target.chmod(mode if mode is not None else (source.stat().st_mode & 0o777))


def _populate_rootfs(rootfs: Path, spec: ServerSpec) -> str:
    assert spec.executable is not None
    server = f"/usr/local/bin/{spec.product}-server"
    _put(rootfs, spec.executable, server, 0o755)
    shell = Path("/bin/sh")
    libs = {*_ldd(spec.executable), *_ldd(shell)}
    # glibc dlopens libgcc_s for pthread_cancel/backtraces; ldd does not list it.
    libc_dirs = {lib.parent for lib in libs if lib.name.startswith("libc.so")}
    libs |= {d / "libgcc_s.so.1" for d in libc_dirs if (d / "libgcc_s.so.1").exists()}
    for lib in libs:
        _put(rootfs, lib, str(lib))
    _put(rootfs, shell, "/bin/sh", 0o755)
    for directory, mode in (("data", 0o777), ("tmp", 0o1777)):
        (rootfs / directory).mkdir(exist_ok=True)
        (rootfs / directory).chmod(mode)
    return server


def build_images(specs: list[ServerSpec] | None = None, *, force: bool = False) -> list[str]:
    """Build ``memfix/<product>:<version>`` images from local server binaries.

    Default: every local spec. Existing tags are kept unless ``force``. Returns the
    tags (built or already present). Raises :class:`ServerError` without an engine.
    """
    reason = engine_unavailable_reason()
    if reason is not None:
        raise ServerError(f"cannot build images: {reason}")
    chosen = [s for s in (local_specs() if specs is None else specs) if s.backend == "local"]
    docker_client = client(300)
    tags: list[str] = []
    try:
        present = {
            tag for image in docker_client.images.list(name=f"{REPOSITORY}/*") for tag in image.tags
        }
        for spec in chosen:
            repository, tag = f"{REPOSITORY}/{spec.product}", spec.version
            full = f"{repository}:{tag}"
            if force or full not in present:
                with tempfile.TemporaryDirectory(prefix="memfix-image-") as tmp:
                    rootfs = Path(tmp) / "rootfs"
                    server = _populate_rootfs(rootfs, spec)
                    archive = Path(tmp) / "rootfs.tar"
                    with tarfile.open(archive, "w") as tar:
                        tar.add(rootfs, arcname=".")
                    changes = [
                        f'ENTRYPOINT ["{server}"]',
                        "WORKDIR /data",
                        "EXPOSE 6379",
                        f"LABEL {LABEL}.product={spec.product} {LABEL}.version={spec.version} "
                        f"{LABEL}.rdb={spec.rdb_header} {LABEL}.source={spec.source}",
                    ]
                    docker_client.api.import_image_from_file(
                        str(archive), repository=repository, tag=tag, changes=changes
                    )
            tags.append(full)
    finally:
        docker_client.close()
    return tags


def remove_leftovers() -> int:
    """Remove containers labelled memfix=1 (left by killed runs); returns how many."""
    docker_client = client(30)
    try:
        containers = docker_client.containers.list(all=True, filters={"label": f"{LABEL}=1"})
        for container in containers:
            container.remove(force=True)
        return len(containers)
    finally:
        docker_client.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("build", "clean"):
        print("usage: python -m memfix.servers.docker build [--force] | clean", file=sys.stderr)
        return 2
    try:
        if args[0] == "build":
            for tag in build_images(force="--force" in args[1:]):
                print(tag)
        else:
            print(f"removed {remove_leftovers()} memfix container(s)")
    except ServerError as exc:
        print(f"memfix: {exc}", file=sys.stderr)
        return 1
    return 0


register_backend("docker", DockerServer.launch)

if __name__ == "__main__":
    sys.exit(main())
