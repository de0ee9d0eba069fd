"""``record``: write the goldens of a new release, atomically, never over a released one."""

from __future__ import annotations

import hashlib
import inspect
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import memfix
from memfix import schemas
from memfix.errors import GoldenError, MemfixError
from memfix.goldens.dump import (
    Entry,
    ListEntry,
    dump_keyspace,
    encode_dump,
    restore_dump,
    value_bytes,
)
from memfix.goldens.golden import GOLDEN_FILES, Golden, find_goldens, parse_version
from memfix.goldens.jsonfile import encode_canonical
from memfix.goldens.manifest import Counts, Manifest, ScenarioInfo, ServerInfo, sha256_file
from memfix.goldens.scenario import SCENARIO_NAME, run_scenario
from memfix.servers import Server, ServerSpec, default_spec, rdb_header
from memfix.store import KeyLayout

__all__ = ["record", "write_golden"]

Progress = Callable[[str], None]


def record(
    version: str,
    root: Path,
    *,
    spec: ServerSpec | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
    replace_unreleased: bool = False,
) -> Golden:
    """Record ``root/<version>/`` from the current code and return it.

    Starts a fresh server (by default the oldest available, so the RDB golden
    loads on every newer server), restores the previous golden's data unless
    ``fresh``, runs the scenario, and writes ``dump.rdb``, ``dump.json``,
    ``schema.json`` and ``manifest.json`` into a temporary directory that is
    renamed into place only when complete. ``replace_unreleased`` re-records an
    existing golden that no git commit holds (see :func:`memfix.release.committed_in_git`).
    """
    say = progress or (lambda _: None)
    parse_version(version)
    if version != schemas.CURRENT_VERSION:
        raise GoldenError(
            f"cannot record {version}: this code writes schema {schemas.CURRENT_VERSION} "
            f"(start a release with `memfix schema new {version}`; see docs/releasing.md)"
        )
    target = root / version
    if target.exists():
        _check_replaceable(target, replace_unreleased)
    previous = None
    if not fresh:
        earlier = [g for g in find_goldens(root) if g.sort_key < parse_version(version)]
        previous = earlier[-1] if earlier else None
        if previous is not None:
            say(f"checking previous golden {previous.version}")
            previous.check()
    spec = spec or default_spec()

    say(f"starting {spec.id}")
    with spec.start() as server:
        if previous is not None:
            say(f"restoring golden {previous.version} ({len(previous.dump.keys)} keys)")
            restore_dump(previous.dump, server.client)
        run_scenario(server.client, version, progress=lambda s: say(f"scenario: {s}"))
        scenario = ScenarioInfo(
            name=SCENARIO_NAME,
            seed=f"memfix-scenario-{version}",
            previous_golden=previous.version if previous else None,
            description=" ".join((run_scenario.__doc__ or "").split()),
        )
        say("dumping the keyspace")
        replaced = _move_aside(target) if target.exists() else None
        try:
            golden = write_golden(server, target, scenario=scenario)
        except BaseException:
            if replaced is not None:
                replaced.rename(target)
            raise
        if replaced is not None:
            shutil.rmtree(replaced)
    say(f"wrote {target}")
    return golden


def _check_replaceable(target: Path, replace_unreleased: bool) -> None:
    """An existing golden may be re-recorded only when asked and never committed."""
    from memfix.release import committed_in_git

    if replace_unreleased:
        if committed_in_git(target):
            raise GoldenError(
                f"{target} is committed in git: a released golden is never re-recorded; "
                "release a new schema version instead"
            )
        return
    hint = "record a new schema version instead"
    try:
        if not committed_in_git(target):
            hint = "it is not committed yet: re-record it with --replace-unreleased"
    except MemfixError:
        pass
    raise GoldenError(f"{target} already exists: released goldens are immutable; {hint}")


def _move_aside(target: Path) -> Path:
    aside = Path(tempfile.mkdtemp(prefix=f".replaced-{target.name}-", dir=target.parent))
    aside.rmdir()
    target.rename(aside)
    return aside


def write_golden(server: Server, target: Path, *, scenario: ScenarioInfo) -> Golden:
    """Freeze what ``server`` holds now into a golden directory ``target``.

    Writes ``dump.json``, ``dump.rdb``, ``schema.json`` and ``manifest.json``
    (for the current schema version) into a temporary sibling directory and
    renames it into place only when complete, so a failure leaves nothing.
    """
    version = schemas.CURRENT_VERSION
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".record-{target.name}-", dir=target.parent))
    try:
        dump = dump_keyspace(server.client)
        (staging / "dump.json").write_bytes(encode_dump(dump))
        server.save_rdb(staging / "dump.rdb")
        (staging / "schema.json").write_bytes(encode_canonical(schemas.json_schema(version)))
        spec = server.spec
        manifest = Manifest(
            memfix_version=memfix.__version__,
            schema_version=version,
            schema_module_sha256=schema_module_sha256(version),
            server=ServerInfo(
                id=spec.id,
                product=spec.product,
                version=spec.version,
                rdb_header=str(rdb_header(staging / "dump.rdb")),
            ),
            counts=_counts(dump.keys),
            scenario=scenario,
            files={name: sha256_file(staging / name) for name in GOLDEN_FILES},
        )
        (staging / "manifest.json").write_bytes(manifest.encode())
        staging.chmod(0o755)  # mkdtemp makes it private; goldens are ordinary files
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Golden.open(target)


def schema_module_sha256(version: str) -> str:
    """sha256 of a released schema module's source: goldens pin it so edits are caught."""
    source = inspect.getsource(schemas.RELEASED[version])
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _counts(entries: list[Entry]) -> Counts:
    layout = KeyLayout()
    by_version: dict[str, int] = {}
    sessions = messages = 0
    for e in entries:
        if not isinstance(e, ListEntry) or not isinstance(e.key, str):
            continue
        if layout.session_of(e.key) is None:
            continue
        sessions += 1
        messages += len(e.value)
        for v in e.value:
            detected = schemas.detect_version(value_bytes(v)) or "unknown"
            by_version[detected] = by_version.get(detected, 0) + 1
    return Counts(
        keys=len(entries),
        sessions=sessions,
        messages=messages,
        records_by_version=dict(sorted(by_version.items())),
    )
