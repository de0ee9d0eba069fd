"""``record``: write the goldens of a new release, atomically, never over a released one.

One ``memfix record`` at a time per goldens directory (a lock on the
directory); a staging directory left by a killed run is removed by the next.
"""

from __future__ import annotations

import contextlib
import fcntl
import inspect
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import memfix
from memfix.errors import FormatError, GoldenError, MemfixError
from memfix.formats import (
    Format,
    Version,
    current_version,
    fingerprint_of,
    json_schema_of,
    key_matcher,
    package_versions_of,
    resolve_format,
)
from memfix.goldens.case import count_records
from memfix.goldens.dump import dump_keyspace, encode_dump, key_text, restore_dump, short_ttl
from memfix.goldens.golden import DEFAULT_SET, GOLDEN_FILES, REQUIRED_FILES, Golden, find_goldens
from memfix.goldens.jsonfile import encode_canonical
from memfix.goldens.manifest import (
    MANIFEST_FORMAT,
    Counts,
    Manifest,
    ScenarioInfo,
    ServerInfo,
    sha256_file,
)
from memfix.goldens.view import build_view
from memfix.servers import Server, ServerSpec, default_spec, rdb_header

__all__ = ["locked_goldens", "record", "scenario_info", "scenario_server", "write_golden"]

Progress = Callable[[str], None]
_STAGING = ".record-"


def record(
    version: str | Version,
    root: Path,
    *,
    spec: ServerSpec | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
    fmt: Format | None = None,
    golden_set: str = DEFAULT_SET,
    replace_unreleased: bool = False,
    writer: Format | None = None,
) -> Golden:
    """Record ``root/<version>/`` from the current code of ``fmt`` and return it.

    Starts a fresh server (by default the oldest available, so the RDB golden
    loads on every newer server), restores the previous golden's data unless
    ``fresh`` (goldens accumulate history as production does), runs the
    format's scenario, and writes the files into a staging directory renamed
    into place only when complete. ``replace_unreleased`` re-records an
    existing golden that no git commit holds (see :func:`memfix.release.committed_in_git`).

    ``writer`` runs the scenario and reads it back instead of ``fmt`` itself:
    :class:`memfix.goldens.isolated.IsolatedFormat`, the format's code with an
    older release of its library (``memfix record --with PIN``). Its version is
    the one that release writes, and the manifest pins its exact packages.
    """
    say = progress or (lambda _: None)
    fmt = fmt or resolve_format("memfix")
    writer = writer or fmt
    wanted = Version.parse(version)
    current = current_version(writer)
    if wanted != current:
        if writer is not fmt:
            pinned = getattr(writer, "label", "the writer")
            raise GoldenError(
                f"cannot record {fmt.name} {wanted}: {pinned} writes {fmt.name} {current} "
                f"(pin a release of the {wanted} line, or record --version {current})"
            )
        raise GoldenError(
            f"cannot record {wanted}: format {fmt.name!r} writes version {current} "
            f"({_hint(fmt, wanted)})"
        )
    target = root / str(wanted)
    if target.exists() or target.is_symlink():
        _check_replaceable(target, replace_unreleased)
    with locked_goldens(root, say):
        previous = None
        if not fresh:
            earlier = [g for g in find_goldens(root, golden_set) if g.version < wanted]
            previous = earlier[-1] if earlier else None
            if previous is not None:
                say(f"checking previous golden {previous.version}")
                from memfix.goldens.case import check_golden

                check_golden(previous, fmt)
        with scenario_server(writer, wanted, previous, spec or default_spec(), say) as server:
            scenario = scenario_info(fmt, wanted, previous)
            say("dumping the keyspace")
            replaced = _move_aside(target) if target.exists() else None
            try:
                golden = write_golden(
                    server,
                    target,
                    scenario=scenario,
                    fmt=writer,
                    golden_set=golden_set,
                    version=wanted,
                )
            except BaseException:
                if replaced is not None:
                    replaced.rename(target)
                raise
            if replaced is not None:
                shutil.rmtree(replaced)
    say(f"wrote {target}")
    return golden


def _hint(fmt: Format, wanted: Version) -> str:
    """How to record ``wanted`` when the format's current code writes another version."""
    distribution = getattr(fmt, "distribution", None)
    if isinstance(distribution, str):  # a library format: its release line is the version
        return f"record another release line with --with '{distribution}=={wanted}.*'"
    if fmt.name == "memfix":
        return f"start a release with `memfix schema new {wanted}`; see docs/releasing.md"
    return "bump the format's current_version when its code writes that version"


def _check_replaceable(target: Path, replace_unreleased: bool) -> None:
    """An existing golden may be re-recorded only when asked and never committed."""
    from memfix.release import committed_in_git

    if replace_unreleased and not target.is_symlink():
        if committed_in_git(target):
            raise GoldenError(
                f"{target} is committed in git: a released golden is never re-recorded; "
                "release a new version instead"
            )
        return
    hint = "record a new version instead"
    try:
        if not target.is_symlink() and not committed_in_git(target):
            hint = "it is not committed yet: re-record it with --replace-unreleased"
    except MemfixError:
        pass
    raise GoldenError(f"{target} already exists: released goldens are immutable; {hint}")


def _move_aside(target: Path) -> Path:
    aside = Path(tempfile.mkdtemp(prefix=f".replaced-{target.name}-", dir=target.parent))
    aside.rmdir()
    target.rename(aside)
    return aside


@contextlib.contextmanager
def scenario_server(
    fmt: Format,
    version: Version,
    previous: Golden | None,
    spec: ServerSpec,
    progress: Progress | None = None,
) -> Iterator[Server]:
    """A fresh server holding ``previous``'s data plus ``fmt``'s scenario of ``version``,
    written by the current code: what ``record`` freezes, and what a write-side check
    compares with the committed golden of the same version."""
    say = progress or (lambda _: None)
    say(f"starting {spec.id}")
    with spec.start() as server:
        if previous is not None:
            say(f"restoring golden {previous.version} ({len(previous.dump.keys)} keys)")
            restore_dump(previous.dump, server.client)
        say(f"scenario of {fmt.name} {version}")
        try:
            fmt.write_scenario(server.client, version)
        except (GoldenError, FormatError):
            raise
        except Exception as exc:  # the project's writer: one line, not a traceback
            raise GoldenError(
                f"format {fmt.name!r}: write_scenario({version}) raised "
                f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            ) from None
        yield server


def scenario_info(fmt: Format, version: Version, previous: Golden | None) -> ScenarioInfo:
    doc = inspect.getdoc(fmt.write_scenario) or ""
    return ScenarioInfo(
        name=str(getattr(fmt, "scenario_name", f"{fmt.name}/scenario")),
        seed=f"{fmt.name}-scenario-{version}",
        previous_golden=str(previous.version) if previous else None,
        description=" ".join(doc.split()),
    )


@contextlib.contextmanager
def locked_goldens(root: Path, say: Progress) -> Iterator[None]:
    """Hold the goldens directory's lock (``record`` and ``capture`` take it); remove
    staging directories of killed runs."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GoldenError(
                f"{root}: another `memfix record` is running on this directory"
            ) from None
        for stale in root.glob(_STAGING + "*"):
            say(f"removing {stale.name}, left by an interrupted record")
            shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_golden(
    server: Server,
    target: Path,
    *,
    scenario: ScenarioInfo,
    fmt: Format | None = None,
    golden_set: str = DEFAULT_SET,
    version: Version | None = None,
    extra: Mapping[str, bytes] | None = None,
) -> Golden:
    """Freeze what ``server`` holds now into a golden directory ``target``.

    Refuses data the format's current read code does not fully see (keys it
    does not claim, an empty view): such a golden could never fail. Refuses a
    key expiring within 100 years too: ``dump.rdb`` stores absolute expiry, so
    the golden would lose it (see :data:`memfix.goldens.dump.MIN_GOLDEN_TTL`). The
    manifest pins the exact packages the format reports (``package_versions``,
    library formats), so a golden says which release wrote it. Writes
    into a staging sibling directory renamed into place only when complete,
    so a failure leaves nothing. ``extra`` files (``capture.json``) are
    written and checksummed with the others.
    """
    fmt = fmt or resolve_format("memfix")
    version = version or Version.parse(target.name, where=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{target.name}-", dir=target.parent))
    try:
        dump = dump_keyspace(server.client)
        owned = key_matcher(fmt.key_patterns)
        stray = [key_text(e.key) for e in dump.keys if not owned(key_text(e.key))]
        if stray:
            raise GoldenError(
                f"format {fmt.name!r} does not claim keys {stray[:3]} "
                f"({len(stray)} in all): add them to its key_patterns"
            )
        expiring = short_ttl(dump)
        if expiring is not None:
            raise GoldenError(f"refusing to record {target}: {expiring}")
        view = build_view(fmt, server.client, dump)
        if dump.keys and not view.sessions:
            raise GoldenError(
                f"format {fmt.name!r}: read_sessions sees no session in {len(dump.keys)} keys"
            )
        (staging / "dump.json").write_bytes(encode_dump(dump))
        server.save_rdb(staging / "dump.rdb")
        schema = json_schema_of(fmt)
        if schema is not None:
            (staging / "schema.json").write_bytes(encode_canonical(schema))
        for name, data in (extra or {}).items():
            if name not in GOLDEN_FILES or name in REQUIRED_FILES:
                raise GoldenError(f"{name}: not a file a golden may hold besides its dumps")
            (staging / name).write_bytes(data)
        spec = server.spec
        manifest = Manifest(
            format=MANIFEST_FORMAT,
            golden_set=None if golden_set == DEFAULT_SET else golden_set,
            format_name=None if fmt.name == "memfix" else fmt.name,
            memfix_version=memfix.__version__,
            schema_version=str(version),
            schema_module_sha256=fingerprint_of(fmt, version),
            server=ServerInfo(
                id=spec.id,
                product=spec.product,
                version=spec.version,
                rdb_header=str(rdb_header(staging / "dump.rdb")),
            ),
            counts=Counts(
                keys=len(dump.keys),
                sessions=len(view.sessions),
                messages=view.messages,
                records_by_version=count_records(dump, fmt),
            ),
            scenario=scenario,
            packages=package_versions_of(fmt),
            files={
                name: sha256_file(staging / name)
                for name in GOLDEN_FILES
                if (staging / name).exists()
            },
        )
        (staging / "manifest.json").write_bytes(manifest.encode())
        staging.chmod(0o755)  # mkdtemp makes it private; goldens are ordinary files
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Golden.open(target, golden_set)


def schema_module_sha256(version: str) -> str:
    """sha256 of a released memfix schema module's source (kept for callers and tests)."""
    value = fingerprint_of(resolve_format("memfix"), Version.parse(version))
    if value is None:
        raise GoldenError(f"no released memfix schema {version}")
    return value
