"""memfix's pytest plugin: goldens restored into fresh real servers, compared with snapshots.

Fixtures (all opt-in: a test that does not name them pays nothing):

- ``memfix_golden``: parametrized over every golden version x restore mode
  (``rdb``, ``json``) x server, with ids like ``[1.2-json-redis-7.0.15]``;
  gives a :class:`RestoredGolden` on a fresh server started for this test.
- ``memfix_snapshot``: a syrupy snapshot that stores one JSON file per golden.
- ``memfix_server`` / ``memfix_store``: a fresh server (and a store on it) for
  tests of your own.

Typical use, the whole regression test::

    def test_goldens_load_unchanged(memfix_golden, memfix_snapshot):
        assert memfix_golden.view() == memfix_snapshot

Options: ``--memfix-goldens DIR`` (ini ``memfix_goldens``, default ``golden``),
``--memfix-server ID`` (repeatable; ini ``memfix_servers``; default: every
server memfix can start here, see ``memfix servers``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

    from memfix.goldens import Golden, RestoreMode
    from memfix.servers import Server, ServerSpec
    from memfix.store import RedisMemoryStore


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memfix", "memfix goldens")
    group.addoption(
        "--memfix-goldens",
        metavar="DIR",
        help="directory holding golden/<version>/ (default: ini memfix_goldens or 'golden')",
    )
    group.addoption(
        "--memfix-server",
        action="append",
        default=[],
        metavar="ID",
        help="server to replay goldens on, e.g. redis-7.0.15 or valkey (repeatable; "
        "default: every server memfix can start)",
    )
    parser.addini("memfix_goldens", "directory holding golden/<version>/", default="golden")
    parser.addini("memfix_servers", "servers to replay goldens on", type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    # Snapshots are named by golden version on purpose (one file per golden);
    # syrupy warns that such a name does not contain the test name.
    config.addinivalue_line(
        "filterwarnings", r"ignore:(?s).*Can not relate snapshot name '\d+\.\d+':UserWarning"
    )
    if config.getoption("--memfix-server"):
        _selection(config)  # a bad --memfix-server is a usage error, reported before collection


@dataclass
class _Selection:
    goldens: list[Golden]
    specs: list[ServerSpec]
    root: Path


_KEY = pytest.StashKey[_Selection]()


def _selection(config: pytest.Config) -> _Selection:
    if _KEY not in config.stash:
        from memfix.goldens import find_goldens
        from memfix.servers import discover, select_spec

        option = config.getoption("--memfix-goldens") or config.getini("memfix_goldens")
        root = Path(option)
        if not root.is_absolute():
            root = config.rootpath / root
        from memfix.errors import MemfixError
        from memfix.servers import ServerError

        queries = config.getoption("--memfix-server") or config.getini("memfix_servers")
        try:
            specs = [select_spec(q) for q in queries] if queries else discover()
            goldens = find_goldens(root)
        except (MemfixError, ServerError) as exc:  # a usage problem, not a crash
            raise pytest.UsageError(f"memfix: {exc}") from None
        config.stash[_KEY] = _Selection(goldens, specs, root)
    return config.stash[_KEY]


@dataclass(frozen=True)
class GoldenCase:
    golden: Golden
    mode: RestoreMode
    spec: ServerSpec

    @property
    def id(self) -> str:
        return f"{self.golden.version}-{self.mode.value}-{self.spec.id}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "memfix_golden" not in metafunc.fixturenames:
        return
    from memfix.goldens import RestoreMode

    sel = _selection(metafunc.config)
    cases = [
        GoldenCase(g, mode, spec)
        for g in sel.goldens
        for mode in (RestoreMode.RDB, RestoreMode.JSON)
        for spec in sel.specs
    ]
    metafunc.parametrize("memfix_golden", cases, ids=[c.id for c in cases], indirect=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        sel = _selection(config)
    except Exception as exc:  # the header must never break a run; the tests will say more
        return [f"memfix: {exc}"]
    goldens = ", ".join(g.version for g in sel.goldens) or "none"
    return [
        f"memfix: goldens {goldens} ({sel.root})",
        f"memfix: servers {', '.join(s.id for s in sel.specs) or 'none'}",
    ]


class RestoredGolden:
    """A golden restored into a fresh server, read through the current code."""

    def __init__(self, case: GoldenCase, server: Server) -> None:
        self.golden = case.golden
        self.mode = case.mode
        self.spec = case.spec
        self.server = server

    @property
    def version(self) -> str:
        return self.golden.version

    def store(self, **kwargs: Any) -> RedisMemoryStore:
        from memfix.store import RedisMemoryStore

        return RedisMemoryStore(self.server.client, **kwargs)

    def view(self) -> dict[str, Any]:
        """Layout and decoded sessions; a short failure naming the record if one does not load."""
        from memfix.errors import SchemaError
        from memfix.goldens import golden_view

        try:
            return golden_view(self.server.client)
        except SchemaError as exc:
            error = exc  # fail outside the handler: no chained-exception noise
        pytest.fail(
            f"golden {self.version} ({self.mode.value} restore on {self.spec.id}) "
            f"no longer loads with the current code:\n  {error}",
            pytrace=False,
        )


@pytest.fixture
def memfix_golden(request: pytest.FixtureRequest) -> Iterator[RestoredGolden]:
    from memfix.errors import GoldenError
    from memfix.goldens import RestoreMode, restored_server

    case: GoldenCase = request.param
    try:
        case.golden.check()  # a golden whose files no longer match its manifest is a failure
    except GoldenError as exc:
        pytest.fail(f"golden {case.golden.version}: {exc}", pytrace=False)
    if case.mode is RestoreMode.RDB:
        header = case.golden.rdb_header()
        if not case.spec.can_load(header):
            pytest.skip(
                f"dump.rdb of {case.golden.version} is {header}, newer than {case.spec.id} "
                "loads (the json case covers this server)"
            )
    with restored_server(case.golden, case.spec, case.mode) as server:
        yield RestoredGolden(case, server)


@pytest.fixture
def memfix_snapshot(
    snapshot: SnapshotAssertion, memfix_golden: RestoredGolden
) -> SnapshotAssertion:
    from memfix.snapshot import GoldenSnapshotExtension

    return snapshot.use_extension(GoldenSnapshotExtension)(name=memfix_golden.version)


@pytest.fixture
def memfix_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A fresh server (the first ``--memfix-server``, else the embedded default)."""
    from memfix.servers import default_spec, select_spec

    queries = request.config.getoption("--memfix-server") or request.config.getini("memfix_servers")
    spec = select_spec(queries[0]) if queries else default_spec()
    with spec.start() as server:
        yield server


@pytest.fixture
def memfix_store(memfix_server: Server) -> Iterator[RedisMemoryStore]:
    from memfix.store import RedisMemoryStore

    with RedisMemoryStore(memfix_server.client) as store:
        yield store
