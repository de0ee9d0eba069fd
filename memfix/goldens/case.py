"""The golden case: one golden x restore mode x server (or cluster), restored, checked, viewed.

The one implementation behind ``memfix verify`` and the pytest plugin. Every
check that can make a golden lie is here, so both shells fail the same way:

- static (no server): files against the manifest (:meth:`Golden.check`), the
  manifest's set, format, key and record counts, RDB header and ``schema.json``
  against the files, every key claimed by the set's format, and no TTL under
  100 years (``dump.rdb`` stores absolute expiry: the key would vanish from it);
- after the restore: the restored keyspace equals ``dump.json``; an RDB holds
  no FUNCTION library; the view is not empty over a non-empty dump; the view
  holds as many sessions and messages as the manifest says (a reader that skips
  what it cannot decode loses messages silently: that fails here).

On a cluster (``spec`` a :class:`ClusterSpec`, ids like ``1.2-json-cluster-redis-6.2.5``)
the same checks run through the cluster client, and the view is compared with
the same snapshot as the standalone cases; a format that does not declare
``reads_cluster`` is skipped, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from memfix.errors import FormatError, GoldenError
from memfix.formats import Format, json_schema_of, key_matcher, reads_cluster, record_version_of
from memfix.goldens.dump import (
    KeyspaceDump,
    ListEntry,
    dump_keyspace,
    key_text,
    short_ttl,
    value_bytes,
)
from memfix.goldens.golden import Golden
from memfix.goldens.jsonfile import read_json
from memfix.goldens.restore import (
    RestoreMode,
    ServerPool,
    client_of,
    first_difference,
    has_functions,
    restored_server,
)
from memfix.goldens.view import GoldenView, build_view
from memfix.servers import AnySpec, Cluster, ClusterSpec, Server, ServerError

__all__ = [
    "CaseFailure",
    "CaseSkipped",
    "ClusterUnreadable",
    "GoldenCase",
    "RestoredCase",
    "check_golden",
    "count_records",
    "golden_cases",
    "prefetch",
    "restored_case",
]


class CaseFailure(GoldenError):
    """A golden case that fails; the message names set, version and what is wrong."""


class CaseSkipped(GoldenError):
    """A case that cannot run here (an RDB newer than the server loads)."""


class ClusterUnreadable(CaseSkipped):
    """A cluster case of a format whose reader does not declare ``reads_cluster``."""


@dataclass(frozen=True)
class GoldenCase:
    """One golden, restored one way, on one server kind."""

    golden: Golden
    mode: RestoreMode
    spec: AnySpec
    fmt: Format = field(compare=False)
    id_prefix: str = ""

    @property
    def id(self) -> str:
        """``1.2-json-redis-7.0.15`` (default set), ``chat-1.2-json-redis-7.0.15``,
        ``1.2-json-cluster-redis-6.2.5`` (on a cluster)."""
        return f"{self.id_prefix}{self.golden.version}-{self.mode.value}-{self.spec.id}"

    @property
    def where(self) -> str:
        return f"golden {self.golden.label} ({self.mode.value} restore on {self.spec.id})"

    def fail(self, detail: str) -> CaseFailure:
        return CaseFailure(f"{self.where}: {detail}")


def golden_cases(
    goldens: Sequence[Golden],
    specs: Sequence[AnySpec],
    fmt: Format,
    *,
    id_prefix: str = "",
    modes: Sequence[RestoreMode] = (RestoreMode.RDB, RestoreMode.JSON),
) -> list[GoldenCase]:
    return [
        GoldenCase(g, mode, spec, fmt, id_prefix)
        for g in goldens
        for mode in modes
        for spec in specs
    ]


def count_records(dump: KeyspaceDump, fmt: Format) -> dict[str, int]:
    """Records by the version they claim, over list elements of the format's keys."""
    hook = record_version_of(fmt)
    if hook is None:
        return {}
    owned = key_matcher(fmt.key_patterns)
    counts: dict[str, int] = {}
    for e in dump.keys:
        if not isinstance(e, ListEntry) or not owned(key_text(e.key)):
            continue
        for v in e.value:
            version = hook(value_bytes(v)) or "unknown"
            counts[version] = counts.get(version, 0) + 1
    return dict(sorted(counts.items()))


def _names(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(k if len(k) <= 60 else k[:57] + "...") for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def check_golden(golden: Golden, fmt: Format) -> None:
    """Everything about a golden that needs no server; a GoldenError naming set, version, file.

    Checked once per golden and process (the result is remembered).
    """
    memo = golden.__dict__.get("_checked")
    if memo is not None:
        if isinstance(memo, GoldenError):
            raise memo
        return
    try:
        _check_golden(golden, fmt)
    except GoldenError as exc:
        error = GoldenError(f"golden {golden.label}: {exc}")
        golden.__dict__["_checked"] = error
        raise error from None
    golden.__dict__["_checked"] = True


def _check_golden(golden: Golden, fmt: Format) -> None:
    golden.check()
    m = golden.manifest
    manifest = golden.path / "manifest.json"
    if m.data_format != fmt.name:
        raise GoldenError(
            f"{manifest}: recorded by format {m.data_format!r}, the set's is {fmt.name!r}"
        )
    header = golden.rdb_header()
    if str(header) != m.server.rdb_header:
        raise GoldenError(
            f"{golden.rdb_path}: header {header}, the manifest says {m.server.rdb_header[:20]!r}"
        )
    dump = golden.dump
    if not dump.keys:
        raise GoldenError(f"{golden.json_path}: holds no keys (a golden of nothing cannot fail)")
    expiring = short_ttl(dump)  # relative TTLs: a short one in a committed golden is (soon) broken
    if expiring is not None:
        raise GoldenError(f"{golden.json_path}: {expiring}")
    if m.counts.keys != len(dump.keys):
        raise GoldenError(
            f"{manifest}: says {m.counts.keys} keys, dump.json holds {len(dump.keys)}"
        )
    records = count_records(dump, fmt)
    if record_version_of(fmt) is not None and records != m.counts.records_by_version:
        raise GoldenError(
            f"{manifest}: records by version {m.counts.records_by_version}, "
            f"dump.json holds {records}"
        )
    owned = key_matcher(fmt.key_patterns)
    stray = [k for k in (key_text(e.key) for e in dump.keys) if not owned(k)]
    if stray:
        raise GoldenError(f"{golden.json_path}: keys no format claims: {_names(stray)}")
    if m.counts.keys and (m.counts.sessions == 0 or m.counts.messages == 0):
        raise GoldenError(f"{manifest}: {m.counts.keys} keys but no sessions or messages")
    if m.messages_are_records:
        elements = sum(len(e.value) for e in dump.keys if isinstance(e, ListEntry))
        if elements != m.counts.messages:
            raise GoldenError(
                f"{manifest}: says {m.counts.messages} stored messages, "
                f"dump.json lists hold {elements}"
            )
    schema_path = golden.path / "schema.json"
    if "schema.json" in m.files:
        schema = read_json(schema_path, "schema")
        if not isinstance(schema, dict):
            raise GoldenError(f"{schema_path}: not a JSON schema object")
        current = json_schema_of(fmt)
        try:
            is_current = golden.version == _current(fmt)
        except GoldenError:
            is_current = False
        if is_current and current is not None and schema != current:
            raise GoldenError(f"{schema_path}: differs from the format's current JSON schema")


def _current(fmt: Format) -> object:
    from memfix.formats import current_version

    return current_version(fmt)


@dataclass
class RestoredCase:
    """A golden case restored into a server; ``view()`` reads it through the current code."""

    case: GoldenCase
    server: Server | Cluster
    dump: KeyspaceDump
    _view: GoldenView | None = None

    @property
    def client(self) -> redis.Redis:
        """The server's client, or the cluster's ``RedisCluster``."""
        return client_of(self.server)

    def view(self) -> GoldenView:
        """The view, checked against the dump and the manifest; CaseFailure otherwise."""
        if self._view is None:
            case = self.case
            try:
                view = build_view(case.fmt, self.client, self.dump)
            except FormatError as exc:
                raise case.fail(f"no longer loads with the current code: {exc}") from None
            except (redis.RedisError, ServerError) as exc:
                raise case.fail(f"server error while reading: {exc}") from None
            manifest = case.golden.manifest
            counts = manifest.counts
            if self.dump.keys and not view.sessions:
                raise case.fail(
                    f"the view is empty but dump.json holds {len(self.dump.keys)} keys "
                    f"(does {case.fmt.name!r} read_sessions find its keys?)"
                )
            # A golden whose manifest counts stored elements (one may hold several
            # messages) must read back at least one message per element.
            lost = (
                view.messages < counts.messages
                if manifest.messages_are_records
                else view.messages != counts.messages
            )
            if len(view.sessions) != counts.sessions or lost:
                raise case.fail(
                    f"the current code reads {len(view.sessions)} sessions / {view.messages} "
                    f"messages, the golden holds {counts.sessions} / {counts.messages} "
                    f"(records skipped or lost on read?{_short_lists(view, self.dump)})"
                )
            self._view = view
        return self._view


def _short_lists(view: GoldenView, dump: KeyspaceDump) -> str:
    """A hint naming list keys that hold more records than their session was read with
    (a session maps to the one list key equal to it or holding it between colons)."""
    lists = {key_text(e.key): len(e.value) for e in dump.keys if isinstance(e, ListEntry)}
    hints = []
    for sid, messages in view.sessions.items():
        keys = [k for k in lists if k == sid or sid in k.split(":")]
        if len(keys) == 1 and lists[keys[0]] > len(messages):
            hints.append(f"{keys[0][:80]!r} holds {lists[keys[0]]}, read {len(messages)}")
    if not hints:
        return ""
    return " " + "; ".join(hints[:3]) + (f" (+{len(hints) - 3} more)" if len(hints) > 3 else "")


def prefetch(case: GoldenCase, pool: ServerPool) -> None:
    """Start an upcoming rdb case's server early, if the case will get that far."""
    if case.mode is not RestoreMode.RDB or cluster_unreadable(case) is not None:
        return
    try:
        check_golden(case.golden, case.fmt)
        if not case.spec.can_load(case.golden.rdb_header()):
            return
    except GoldenError:
        return  # the case itself reports it
    spec = case.spec.node if isinstance(case.spec, ClusterSpec) else case.spec
    if spec.backend != "local":
        # A container start goes through docker-py and requests, which iterate
        # os.environ; pytest sets and deletes PYTEST_CURRENT_TEST in the main thread
        # meanwhile, and the iteration fails with KeyError (seen in CI). A local
        # server is a plain subprocess and reads nothing of the environment.
        return
    pool.prefetch_rdb(case.golden, spec)  # a cluster's rdb case loads into a node first


def cluster_unreadable(case: GoldenCase) -> str | None:
    """Why ``case`` cannot run: a cluster case of a format that cannot read a cluster."""
    if isinstance(case.spec, ClusterSpec) and not reads_cluster(case.fmt):
        return (
            f"format {case.fmt.name!r} declares no reads_cluster: its reader is not run "
            f"on a cluster client ({case.spec.id})"
        )
    return None


@contextmanager
def restored_case(case: GoldenCase, *, pool: ServerPool | None = None) -> Iterator[RestoredCase]:
    """``case`` restored into a server whose database holds nothing else.

    Raises CaseFailure (one line naming set, version, file or key) for any golden
    problem, CaseSkipped when the RDB is too new for the server, ClusterUnreadable
    for a cluster case of a format that cannot read a cluster.
    """
    golden = case.golden
    why = cluster_unreadable(case)
    if why is not None:
        raise ClusterUnreadable(why)
    try:
        check_golden(golden, case.fmt)
    except GoldenError as exc:
        raise CaseFailure(str(exc)) from None
    if case.mode is RestoreMode.RDB:
        header = golden.rdb_header()
        if not case.spec.can_load(header):
            raise CaseSkipped(
                f"dump.rdb of {golden.label} is {header}, newer than {case.spec.id} loads"
            )
    try:
        with restored_server(golden, case.spec, case.mode, pool=pool) as server:
            actual = dump_keyspace(client_of(server))
            diff = first_difference(golden.dump.without_ttl_values(), actual.without_ttl_values())
            if diff is not None:
                raise case.fail(f"{case.mode.value} restore differs from dump.json: {diff}")
            # (a cluster's rdb source server was checked before its keys moved)
            if (
                case.mode is RestoreMode.RDB
                and isinstance(server, Server)
                and has_functions(server.client)
            ):
                raise case.fail("dump.rdb carries FUNCTION libraries (code, not data)")
            yield RestoredCase(case, server, actual)
    except (ServerError, redis.RedisError) as exc:
        raise case.fail(" ".join(str(exc).split())[:500]) from None
    except GoldenError as exc:
        if isinstance(exc, CaseFailure):
            raise
        raise case.fail(str(exc)) from None
