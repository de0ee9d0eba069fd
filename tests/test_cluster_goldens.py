"""Goldens on a cluster, as the plugin and ``memfix verify`` run them.

The cluster cases themselves run in tests/test_goldens.py (``memfix_clusters`` in
pyproject.toml: a Redis and a Valkey cluster, ids like ``1.2-json-cluster-redis-6.2.5``,
the same snapshots as the standalone cases). Here: that a cluster restore really
spreads the keys and reads exactly as standalone, that one pooled cluster serves
case after case emptied, that a format which cannot read a cluster is skipped
saying so, and that ``memfix verify --server cluster-...`` fails a tampered golden.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from memfix.cli import main
from memfix.formats.memfix import MEMFIX_FORMAT
from memfix.goldens import (
    ClusterUnreadable,
    GoldenCase,
    RestoreMode,
    ServerPool,
    encode_view,
    find_goldens,
    golden_cases,
    restored_case,
)
from memfix.servers import Cluster, ClusterSpec, standalone_of
from memfix.version import Version
from tests.cluster_support import cluster_params, cluster_specs

ROOT = Path(__file__).resolve().parent.parent
GOLDENS = find_goldens(ROOT / "golden")
SNAPSHOTS = Path(__file__).parent / "__snapshots__" / "test_goldens"


@pytest.fixture(scope="module")
def pool() -> Iterator[ServerPool]:
    """One cluster per kind for this module, as the plugin keeps one per session."""
    shared = ServerPool()
    yield shared
    shared.close()


@pytest.fixture(params=cluster_params())
def spec(request: pytest.FixtureRequest) -> ClusterSpec:
    value: ClusterSpec = request.param
    return value


def view_of(case: GoldenCase, pool: ServerPool | None = None) -> dict[str, Any]:
    with restored_case(case, pool=pool) as restored:
        return restored.view().to_builtins()


def test_cluster_case_ids_say_so() -> None:
    cluster = ClusterSpec(standalone_of(cluster_specs()[0]))
    cases = golden_cases(GOLDENS[:1], [cluster], MEMFIX_FORMAT)
    assert [c.id for c in cases] == [
        f"{GOLDENS[0].version}-rdb-{cluster.id}",
        f"{GOLDENS[0].version}-json-{cluster.id}",
    ]
    assert cluster.id.startswith("cluster-")


@pytest.mark.parametrize("mode", [RestoreMode.JSON, RestoreMode.RDB], ids=lambda m: m.value)
def test_a_golden_through_a_cluster_reads_as_standalone(
    spec: ClusterSpec, mode: RestoreMode, pool: ServerPool
) -> None:
    golden = GOLDENS[-1]
    case = GoldenCase(golden, mode, spec, MEMFIX_FORMAT)
    with restored_case(case, pool=pool) as restored:
        cluster = restored.server
        assert isinstance(cluster, Cluster)
        # the keys are really spread over the masters
        assert sum(1 for m in cluster.masters if m.client.dbsize()) > 1
        view = restored.view().to_builtins()
    assert view["sessions"], "a golden without sessions checks nothing"
    standalone = view_of(GoldenCase(golden, mode, spec.node, MEMFIX_FORMAT))
    assert encode_view(view) == encode_view(standalone)
    assert view == json.loads((SNAPSHOTS / f"{golden.version}.json").read_text())


def test_one_pooled_cluster_serves_case_after_case_emptied(pool: ServerPool) -> None:
    spec = ClusterSpec(standalone_of(cluster_specs()[0]))
    first, second = GOLDENS[-1], GOLDENS[0]
    with restored_case(GoldenCase(first, RestoreMode.JSON, spec, MEMFIX_FORMAT), pool=pool) as a:
        formed = a.server
        # a case that leaves a stray key behind: the next one must not see it
        a.client.set(b"stray", b"1")
    case = GoldenCase(second, RestoreMode.RDB, spec, MEMFIX_FORMAT)
    with restored_case(case, pool=pool) as b:
        assert b.server is formed  # formed once, not per case
        assert isinstance(b.server, Cluster)
        held = sum(int(m.client.dbsize()) for m in b.server.masters)
        assert held == len(second.dump.keys)
        assert b.view().sessions


class NoClusterFormat:
    """memfix's own format, minus its ``reads_cluster`` declaration."""

    name = "memfix"
    key_patterns = MEMFIX_FORMAT.key_patterns
    current_version = MEMFIX_FORMAT.current_version

    def write_scenario(self, client: redis.Redis, version: Version) -> None:
        MEMFIX_FORMAT.write_scenario(client, version)

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        return MEMFIX_FORMAT.read_sessions(client)


def test_a_format_that_cannot_read_a_cluster_is_skipped_saying_so() -> None:
    spec = ClusterSpec(standalone_of(cluster_specs()[0]))
    case = GoldenCase(GOLDENS[-1], RestoreMode.JSON, spec, NoClusterFormat())
    with pytest.raises(ClusterUnreadable, match=f"declares no reads_cluster.*{spec.id}"):  # noqa: SIM117
        with restored_case(case):
            pass


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_verify_on_a_cluster_passes_then_fails_a_tampered_golden(tmp_path: Path) -> None:
    spec = ClusterSpec(standalone_of(cluster_specs()[0]))
    version = "1.1"  # JSON records: a message's content can be changed in place
    code, out = run("verify", version, "--server", spec.id, "-q")
    assert code == 0, out
    assert f"{version}     {spec.id}  json     ok" in out
    assert f"{version}     {spec.id}  rdb      ok" in out
    assert f"ok: 1 golden(s) verified on {spec.id}" in out

    root = tmp_path / "golden"
    for g in GOLDENS:  # every version, so that naming one leaves the write side out
        shutil.copytree(g.path, root / str(g.version))
    golden = root / version
    dump = json.loads((golden / "dump.json").read_text())
    entry = next(e for e in dump["keys"] if e["key"] == "session:timeline:messages")
    entry["value"][1] = entry["value"][1].replace("vegetarian", "carnivore")
    (golden / "dump.json").write_text(json.dumps(dump))
    manifest = json.loads((golden / "manifest.json").read_text())
    manifest["files"]["dump.json"] = hashlib.sha256((golden / "dump.json").read_bytes()).hexdigest()
    (golden / "manifest.json").write_text(json.dumps(manifest))  # the checksums pass

    code, out = run(
        *("verify", version, "--goldens", str(root), "--server", spec.id, "-q"),
        *("--snapshots", str(SNAPSHOTS)),
    )
    assert code == 1, out
    assert "Traceback" not in out
    assert "rdb restore differs from dump.json: key 'session:timeline:messages'" in out
    assert "1 change(s) against" in out
    assert "message 1 field 'content' differs" in out and "now 'that I am carnivore.'" in out
    assert f"Error: 2 check(s) failed: {version}/rdb@{spec.id}; {version}/meaning@-" in out


def test_verify_where_no_golden_could_be_read_is_an_error() -> None:
    """Every cluster case of a set whose format cannot read a cluster is skipped: no "ok"."""
    pytest.importorskip("langchain_core", reason="the langchain set needs memfix[formats]")
    spec = ClusterSpec(standalone_of(cluster_specs()[0]))
    code, out = run("verify", "--set", "langchain", "--server", spec.id, "-q")
    assert code == 1, out
    assert "declares no reads_cluster" in out and "Traceback" not in out
    assert out.rstrip().endswith(
        f"Error: no golden could be read on {spec.id}: every restore skipped"
    )
