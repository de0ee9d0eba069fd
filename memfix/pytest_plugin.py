"""memfix's pytest plugin: goldens restored into real servers, compared with snapshots.

Opt-in, and free when unused: in a project that neither configures memfix
(``[tool.memfix]``, ``--memfix-*`` options, ``memfix_*`` ini) nor uses its
fixtures, it adds no header line, starts no discovery and reads no file.

Fixtures:

- ``memfix_golden``: parametrized over golden set x version x restore mode
  (``rdb``, ``json``) x server, with ids like ``[1.2-json-redis-7.0.15]``
  (default set) or ``[chat-1.2-json-redis-7.0.15]``, and
  ``[1.2-json-cluster-redis-6.2.5]`` on a cluster when asked for; gives a
  :class:`RestoredGolden`. Any golden problem (checksum, manifest claim,
  server refusing the RDB, a record the current code cannot read) is a short
  test failure naming set, version and file, never a fixture error. A set
  whose format's library is not installed (``memfix[formats]``) is one
  skipped test saying so.
- ``memfix_snapshot``: a syrupy snapshot with one JSON file per set and version,
  in the directory ``[tool.memfix] snapshots`` names (default
  ``tests/__snapshots__/test_goldens``), the file ``memfix verify`` reads too.
- ``memfix_write_side``: parametrized over golden set x server (ids like
  ``[1.4-write-redis-7.0.15]``); its ``check()`` replays the set's current
  version with the current writer and fails naming golden, key and what changed.
- ``memfix_server`` / ``memfix_store``: a fresh server (and a store on it).

The whole regression test::

    def test_goldens_load_unchanged(memfix_golden, memfix_snapshot):
        assert memfix_golden.view() == memfix_snapshot

    def test_goldens_are_written_unchanged(memfix_write_side):
        memfix_write_side.check()

Options: ``--memfix-set NAME`` (repeatable; default every configured set),
``--memfix-goldens DIR`` (the directory of the one selected set; ini
``memfix_goldens``), ``--memfix-server ID`` (repeatable; ini ``memfix_servers``;
default: every server memfix can start here, see ``memfix servers``).

Clusters: never by default (forming one takes ~2 s). ``--memfix-cluster ID``
(repeatable; ini ``memfix_clusters``; ``redis-6.2``, ``cluster-valkey``) adds
golden cases on a 3-master cluster of that kind to the servers above;
``--memfix-server cluster-...`` names one as a server. Each cluster is formed
once per process and emptied between cases; its cases compare with the same
snapshot as the standalone ones. The write side runs on single servers only (a
cluster's node kind).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

    from memfix.goldens import GoldenCase, GoldenSet, RestoredCase, ServerPool
    from memfix.goldens.writeside import WriteSideResult
    from memfix.servers import AnySpec, Cluster, Server, ServerSpec
    from memfix.store import RedisMemoryStore


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memfix", "memfix goldens")
    group.addoption(
        "--memfix-goldens",
        metavar="DIR",
        help="directory holding the selected golden set's <version>/ directories",
    )
    group.addoption(
        "--memfix-set",
        action="append",
        default=[],
        metavar="NAME",
        help="golden set to run (repeatable; default: every set in [tool.memfix])",
    )
    group.addoption(
        "--memfix-server",
        action="append",
        default=[],
        metavar="ID",
        help="server to replay goldens on, e.g. redis-7.0.15 or valkey (repeatable; "
        "default: every server memfix can start)",
    )
    group.addoption(
        "--memfix-cluster",
        action="append",
        default=[],
        metavar="ID",
        help="also replay goldens on a local cluster of this server kind, e.g. redis-6.2 or "
        "cluster-valkey (repeatable; default: no cluster)",
    )
    parser.addini("memfix_goldens", "directory holding golden/<version>/", default="")
    parser.addini(
        "memfix_clusters", "server kinds to also replay goldens on as clusters", type="linelist"
    )
    parser.addini("memfix_servers", "servers to replay goldens on", type="linelist", default=[])


def _explicit(config: pytest.Config) -> bool:
    """memfix options or ini values given (cheap: no file read)."""
    return bool(
        config.getoption("--memfix-goldens")
        or config.getoption("--memfix-set")
        or config.getoption("--memfix-server")
        or config.getoption("--memfix-cluster")
        or config.getini("memfix_goldens")
        or config.getini("memfix_servers")
        or config.getini("memfix_clusters")
    )


def _configured(config: pytest.Config) -> bool:
    """Explicit options, or a ``[tool.memfix]`` table in the rootdir's pyproject (a
    substring check, not a TOML parse)."""
    if _explicit(config):
        return True
    pyproject = config.rootpath / "pyproject.toml"
    try:
        return "[tool.memfix" in pyproject.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    # Snapshots are named by set and version on purpose (one file per golden);
    # syrupy warns that such a name does not contain the test name.
    config.addinivalue_line(
        "filterwarnings",
        r"ignore:(?s).*Can not relate snapshot (name|location) "
        r"'([^']*/)?([\w-]+-)?\d+\.\d+(\.json)?':UserWarning",
    )
    # A bad --memfix-* choice is a usage error, before collection; servers alone
    # (for memfix_server) do not require goldens.
    if config.getoption("--memfix-goldens") or config.getoption("--memfix-set"):
        _session(config)
    elif config.getoption("--memfix-server") or config.getoption("--memfix-cluster"):
        from memfix.errors import MemfixError
        from memfix.goldens import choose_targets
        from memfix.servers import ServerError

        try:
            choose_targets(
                config.getoption("--memfix-server"), clusters=config.getoption("--memfix-cluster")
            )
        except (MemfixError, ServerError) as exc:
            raise pytest.UsageError(f"memfix: {exc}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_KEY, None)
    if session is not None:
        session.pool.close()


@dataclass
class _Session:
    sets: list[tuple[GoldenSet, list[Any]]]  # (set, its goldens)
    specs: list[AnySpec]
    pool: ServerPool
    cases: list[GoldenCase] = field(default_factory=list)
    snapshot_dir: Path | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (set, why): library missing


_KEY = pytest.StashKey["_Session"]()


def _session(config: pytest.Config) -> _Session:
    if _KEY not in config.stash:
        try:
            config.stash[_KEY] = _load(config)
        except Exception as exc:  # a usage problem, reported as one line
            from memfix.errors import MemfixError
            from memfix.servers import ServerError

            if not isinstance(exc, (MemfixError, ServerError)):
                raise
            raise pytest.UsageError(f"memfix: {exc}") from None
    return config.stash[_KEY]


def _load(config: pytest.Config) -> _Session:
    from memfix.goldens import ServerPool, choose_targets, golden_cases, load_config

    project = load_config(config.rootpath)
    names = config.getoption("--memfix-set") or [s.name for s in project.sets]
    option = config.getoption("--memfix-goldens") or config.getini("memfix_goldens")
    if option:
        root = Path(option)
        if not root.is_absolute():
            root = config.rootpath / root
        if len(names) != 1:
            from memfix.errors import ConfigError

            raise ConfigError("--memfix-goldens needs exactly one golden set (--memfix-set NAME)")
        project = project.with_root(names[0], root)
    chosen = [project.choose(n) for n in names]
    sets = [(s, s.select()) for s in chosen]  # a missing or empty set is a usage error
    queries = config.getoption("--memfix-server") or config.getini("memfix_servers")
    clusters = config.getoption("--memfix-cluster") or config.getini("memfix_clusters")
    specs = choose_targets(queries, every=True, clusters=clusters)
    from memfix.errors import MissingDependency

    cases: list[GoldenCase] = []
    skipped: list[tuple[str, str]] = []
    for s, goldens in sets:
        try:
            fmt = s.format
        except MissingDependency as exc:  # an optional library: skip its set, saying why
            skipped.append((s.name, str(exc)))
            continue
        cases += golden_cases(goldens, specs, fmt, id_prefix=s.id_prefix)
    return _Session(sets, specs, ServerPool(), cases, chosen[0].snapshot_dir, skipped)


_PROBLEM = pytest.StashKey[str]()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = [f for f in ("memfix_golden", "memfix_write_side") if f in metafunc.fixturenames]
    if not wanted:
        return
    session: _Session | None
    try:
        session = _session(metafunc.config)
    except pytest.UsageError as exc:
        # Raised here it would be a collection error with a traceback; raised
        # after collection it is pytest's own one-line usage error.
        metafunc.config.stash[_PROBLEM] = str(exc)
        session = None
    skips = [
        pytest.param(None, id=name, marks=pytest.mark.skip(reason=f"memfix: {why}"))
        for name, why in (session.skipped if session else [])
    ]
    if "memfix_golden" in wanted:
        cases = session.cases if session else []
        metafunc.parametrize(
            "memfix_golden", [pytest.param(c, id=c.id) for c in cases] + skips, indirect=True
        )
    if "memfix_write_side" in wanted:
        usable = (
            [s for s, _ in session.sets if s.name not in dict(session.skipped)] if session else []
        )
        from memfix.goldens import standalone_specs

        servers = standalone_specs(session.specs) if session else []
        pairs = [(s, spec) for s in usable for spec in servers]
        params = [
            pytest.param(
                pair, id=f"{pair[0].id_prefix}{pair[0].current_version}-write-{pair[1].id}"
            )
            for pair in pairs
        ] + skips
        metafunc.parametrize("memfix_write_side", params, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config) -> None:
    problem = config.stash.get(_PROBLEM, None)
    if problem is not None:
        raise pytest.UsageError(problem)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not _configured(config):
        return []
    try:
        session = _session(config)
    except pytest.UsageError as exc:  # the header must never break a run
        return [str(exc)]
    lines = [
        f"memfix: set {s.name} ({s.format_ref}): goldens "
        f"{', '.join(str(g.version) for g in goldens)} ({s.root})"
        for s, goldens in session.sets
    ]
    lines.append(f"memfix: servers {', '.join(s.id for s in session.specs) or 'none'}")
    return lines


def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """While this test runs, the next one's rdb server is already starting."""
    callspec = getattr(nextitem, "callspec", None)
    if callspec is None or callspec.params.get("memfix_golden") is None:
        return  # not a golden test, or a set skipped for a missing library
    session = item.config.stash.get(_KEY, None)
    if session is not None:
        from memfix.goldens.case import prefetch

        prefetch(callspec.params["memfix_golden"], session.pool)


class RestoredGolden:
    """A golden case restored into a server, read through the current code.

    A golden problem found while restoring is raised (as a test failure) by
    the first use, so it fails the test that uses it instead of erroring its setup.
    """

    def __init__(self, case: GoldenCase, restored: RestoredCase | None, problem: str | None):
        self.case = case
        self.golden = case.golden
        self.mode = case.mode
        self.spec = case.spec
        self._restored = restored
        self._problem = problem
        self._reported = False

    @property
    def version(self) -> str:
        return str(self.golden.version)

    @property
    def snapshot_name(self) -> str:
        return f"{self.case.id_prefix}{self.golden.version}"

    def _get(self) -> RestoredCase:
        if self._restored is None:
            self._reported = True
            pytest.fail(self._problem or "golden not restored", pytrace=False)
        return self._restored

    @property
    def server(self) -> Server | Cluster:
        """The server, or the cluster of a cluster case."""
        return self._get().server

    @property
    def client(self) -> Any:
        """Its ``redis.Redis``, or a cluster case's ``redis.cluster.RedisCluster``."""
        return self._get().client

    def store(self, **kwargs: Any) -> RedisMemoryStore:
        from memfix.store import RedisMemoryStore

        return RedisMemoryStore(self.client, **kwargs)

    def view(self) -> dict[str, Any]:
        """Layout and decoded sessions; a short failure naming set, version and key otherwise."""
        from memfix.goldens import CaseFailure

        restored = self._get()
        try:
            return restored.view().to_builtins()
        except CaseFailure as exc:
            message = str(exc)  # fail outside the handler: no chained-exception noise
        pytest.fail(message, pytrace=False)


@pytest.fixture
def memfix_golden(request: pytest.FixtureRequest) -> Iterator[RestoredGolden]:
    from memfix.goldens import CaseFailure, CaseSkipped, ClusterUnreadable, restored_case

    case: GoldenCase = request.param
    pool = _session(request.config).pool
    skipped = problem = None
    try:
        with restored_case(case, pool=pool) as restored:
            yield RestoredGolden(case, restored, None)
            return
    except ClusterUnreadable as exc:
        skipped = str(exc)
    except CaseSkipped as exc:
        skipped = f"{exc} (the json case covers this server)"
    except CaseFailure as exc:
        problem = str(exc)
    if skipped is not None:
        pytest.skip(skipped)
    golden = RestoredGolden(case, None, problem)
    yield golden
    if not golden._reported:  # a test that never looked at its golden must not pass it
        pytest.fail(problem or "golden not restored", pytrace=False)


@pytest.fixture
def memfix_snapshot(
    snapshot: SnapshotAssertion, memfix_golden: RestoredGolden, request: pytest.FixtureRequest
) -> SnapshotAssertion:
    from memfix.snapshot import snapshot_extension

    directory = _session(request.config).snapshot_dir
    extension = snapshot_extension(directory)
    return snapshot.use_extension(extension)(name=memfix_golden.snapshot_name)


class WriteSide:
    """The write-side check of one golden set on one server (run by :meth:`check`)."""

    def __init__(self, golden_set: GoldenSet, spec: ServerSpec) -> None:
        self.golden_set = golden_set
        self.spec = spec
        self.checked = False

    def result(self) -> WriteSideResult:
        """The comparison itself; a GoldenError (missing golden, failed scenario) or
        CaseSkipped (a captured golden) as raised by the library."""
        from memfix.goldens.writeside import check_set_write_side

        self.checked = True
        return check_set_write_side(self.golden_set, self.spec)

    def check(self) -> None:
        """Fail (one report naming golden, key and what changed) unless the current
        writer reproduces the set's current golden; skip for a captured golden."""
        from memfix.errors import GoldenError
        from memfix.goldens import CaseSkipped

        try:
            result = self.result()
        except CaseSkipped as exc:
            pytest.skip(str(exc))
        except GoldenError as exc:
            message = f"write side: {exc}"
        else:
            if result.ok:
                return
            message = f"write side: {result.report()}"
        pytest.fail(message, pytrace=False)  # outside the handler: no chained-exception noise


@pytest.fixture
def memfix_write_side(request: pytest.FixtureRequest) -> Iterator[WriteSide]:
    golden_set, spec = request.param
    side = WriteSide(golden_set, spec)
    yield side
    if not side.checked:  # a test that never ran the check must not pass it
        pytest.fail("memfix_write_side: the test never called .check()", pytrace=False)


@pytest.fixture
def memfix_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A fresh server (the first ``--memfix-server``, a cluster's node kind, else the default)."""
    from memfix.goldens import choose_targets, standalone_specs

    queries = request.config.getoption("--memfix-server") or request.config.getini("memfix_servers")
    spec = standalone_specs(choose_targets(queries[:1]))[0]
    with spec.start() as server:
        yield server


@pytest.fixture
def memfix_store(memfix_server: Server) -> Iterator[RedisMemoryStore]:
    from memfix.store import RedisMemoryStore

    with RedisMemoryStore(memfix_server.client) as store:
        yield store
