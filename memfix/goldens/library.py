"""Golden sets of the built-in library formats (langchain, llama-index, pydantic-ai).

``golden/<set>/<MAJOR.MINOR>/`` holds what that release line of the library
wrote (``dump.json``, ``dump.rdb``, ``manifest.json`` with the exact package
versions). :func:`record_with` records one, with the installed library or,
given pins, in an isolated environment (:mod:`memfix.goldens.isolated`);
:func:`library_view` is what a snapshot compares: the golden restored into a
fresh real server and read through the library installed *now*.
"""

from __future__ import annotations

import fnmatch
import hashlib
import inspect
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import memfix
from memfix.errors import GoldenError
from memfix.formats._library import FormatError, LibraryFormat, library_format, major_minor
from memfix.goldens.dump import Entry, ListEntry, dump_keyspace, encode_dump, key_text
from memfix.goldens.golden import Golden, find_goldens
from memfix.goldens.isolated import ensure_env
from memfix.goldens.manifest import Counts, Manifest, ScenarioInfo, ServerInfo, sha256_file
from memfix.goldens.restore import RestoreMode, restored_server
from memfix.goldens.view import VIEW_FORMAT, layout_of
from memfix.servers import Server, ServerSpec, default_spec, rdb_header

__all__ = ["LIBRARY_GOLDEN_FILES", "check_library_golden", "library_view", "record_with"]

Progress = Callable[[str], None]

#: What a library golden holds besides ``manifest.json`` (no schema.json: the library owns it).
LIBRARY_GOLDEN_FILES = ("dump.rdb", "dump.json")


def _format(fmt: LibraryFormat | str) -> LibraryFormat:
    return library_format(fmt) if isinstance(fmt, str) else fmt


def record_with(
    fmt: LibraryFormat | str,
    root: Path,
    requirements: Sequence[str] = (),
    *,
    spec: ServerSpec | None = None,
    progress: Progress | None = None,
) -> Golden:
    """Record ``root/<MAJOR.MINOR of the library>/`` and return it.

    With no ``requirements`` the scenario runs here, with the installed
    library; with pins (``["langchain-core==0.3.*"]``) it runs in the cached
    isolated environment for them. Each golden starts from an empty server
    (releases of a library are not a history of one app), and an existing
    golden directory is never overwritten.
    """
    say = progress or (lambda _: None)
    fmt = _format(fmt)
    spec = spec or default_spec()
    env = None
    if requirements:
        env = ensure_env([*requirements, *fmt.requirements], progress=say)
        version = env.packages.get(_dist_name(env.packages, fmt.distribution))
        if version is None:
            raise GoldenError(
                f"the environment for {' '.join(requirements)} has no {fmt.distribution}"
            )
        label = major_minor(version)
    else:
        label = fmt.current_version
    target = root / label
    if target.exists():
        raise GoldenError(f"{target} already exists: released goldens are immutable")
    say(f"starting {spec.id}")
    with spec.start() as server:
        if env is None:
            fmt.write_scenario(server.client, label)
            packages = fmt.package_versions()
        else:
            say(f"running the {fmt.name} scenario with {fmt.distribution} {version}")
            result = env.run_format("write", fmt.name, server.url, label)
            if "error" in result:
                raise GoldenError(f"{fmt.name} scenario failed: {result['error']}")
            packages = result["packages"]
            packages.pop("memfix", None)
        scenario = ScenarioInfo(
            name=f"{fmt.name}-chat/1",
            seed="fixed ids and timestamps (no randomness)",
            previous_golden=None,
            description=" ".join((inspect.getdoc(fmt.write_scenario) or "").split()),
        )
        say("dumping the keyspace")
        golden = _write(server, target, fmt, label, packages, scenario)
    say(f"wrote {target}")
    return golden


def _dist_name(packages: dict[str, str], distribution: str) -> str:
    """The key ``pip list`` used for ``distribution`` (names are compared normalised)."""
    want = distribution.lower().replace("_", "-")
    for name in packages:
        if name.lower().replace("_", "-") == want:
            return name
    return distribution


def _write(
    server: Server,
    target: Path,
    fmt: LibraryFormat,
    version: str,
    packages: dict[str, str],
    scenario: ScenarioInfo,
) -> Golden:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".record-{target.name}-", dir=target.parent))
    try:
        dump = dump_keyspace(server.client)
        if not dump.keys:
            raise GoldenError(f"the {fmt.name} scenario wrote nothing")
        (staging / "dump.json").write_bytes(encode_dump(dump))
        server.save_rdb(staging / "dump.rdb")
        spec = server.spec
        manifest = Manifest(
            memfix_version=memfix.__version__,
            schema_version=version,
            schema_module_sha256=_module_sha256(fmt),
            server=ServerInfo(
                id=spec.id,
                product=spec.product,
                version=spec.version,
                rdb_header=str(rdb_header(staging / "dump.rdb")),
            ),
            counts=_counts(dump.keys, version),
            scenario=scenario,
            files={name: sha256_file(staging / name) for name in LIBRARY_GOLDEN_FILES},
            packages=dict(sorted(packages.items(), key=lambda kv: kv[0].lower())),
        )
        (staging / "manifest.json").write_bytes(manifest.encode())
        staging.chmod(0o755)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Golden.open(target)


def _module_sha256(fmt: LibraryFormat) -> str:
    """sha256 of the format module that wrote the golden (informational: it evolves)."""
    source = inspect.getsource(sys.modules[type(fmt).__module__])
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _counts(entries: list[Entry], version: str) -> Counts:
    lists = [e for e in entries if isinstance(e, ListEntry)]
    messages = sum(len(e.value) for e in lists)
    return Counts(
        keys=len(entries),
        sessions=len(lists),
        messages=messages,
        records_by_version={version: messages},
    )


def check_library_golden(golden: Golden) -> None:
    """Every file present and matching its manifest checksum, or a GoldenError naming it."""
    for name in LIBRARY_GOLDEN_FILES:
        expected = golden.manifest.files.get(name)
        path = golden.path / name
        if expected is None:
            raise GoldenError(f"{golden.path / 'manifest.json'}: no checksum for {name}")
        if not path.is_file():
            raise GoldenError(f"{path}: missing (the manifest lists it)")
        if sha256_file(path) != expected:
            raise GoldenError(f"{path}: does not match its manifest checksum")


def library_goldens(root: Path) -> list[Golden]:
    """Every golden of a set, oldest first; a GoldenError when there is none (never a pass)."""
    goldens = find_goldens(root)
    if not goldens:
        raise GoldenError(f"{root}: no goldens found")
    return goldens


def library_view(
    golden: Golden, fmt: LibraryFormat | str, spec: ServerSpec, mode: RestoreMode
) -> dict[str, Any]:
    """The golden restored into a fresh ``spec`` server, read by the installed library.

    Fails (FormatError naming set, version and keys) when the dump holds keys the
    format does not claim, or when it holds data but the library reads nothing.
    """
    fmt = _format(fmt)
    check_library_golden(golden)
    where = f"{golden.path.parent.name} {golden.version}"
    layout = layout_of(golden.dump)
    unclaimed = [
        key_text(e.key)
        for e in golden.dump.keys
        if not any(fnmatch.fnmatchcase(key_text(e.key), p) for p in fmt.key_patterns)
    ]
    if unclaimed:
        raise FormatError(f"{where}: keys no format claims: {', '.join(unclaimed[:5])}")
    with restored_server(golden, spec, mode) as server:
        sessions = fmt.read_sessions(server.client)
    if golden.dump.keys and not any(sessions.values()):
        raise FormatError(f"{where}: the dump holds {len(layout)} keys but {fmt.name} read nothing")
    return {"format": VIEW_FORMAT, "keyspace": layout, "sessions": sessions}
