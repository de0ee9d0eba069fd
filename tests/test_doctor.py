"""`memfix doctor` against real servers configured well and badly.

The tests configure the servers (CONFIG SET, writes); doctor itself must only
read, which the read-only test checks through the server's own statistics.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfix import schemas
from memfix.doctor import DoctorError, Finding, diagnose, exit_code, render_findings
from memfix.goldens import record
from memfix.servers import Persistence, Server, ServerSpec, discover
from tests.test_contract import server_params

LOCAL = discover(docker=False)


REPO = Path(__file__).resolve().parents[1]


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


@pytest.fixture
def goldens(tmp_path: Path) -> Path:
    """The committed golden 1.0 (recorded on Redis 6.2, RDB 9), copied."""
    shutil.copytree(REPO / "golden" / "1.0", tmp_path / "golden" / "1.0")
    return tmp_path / "golden"


@pytest.fixture(params=server_params(heavy=True))
def spec(request: pytest.FixtureRequest) -> ServerSpec:
    result: ServerSpec = request.param
    return result


@pytest.fixture
def well(spec: ServerSpec) -> Iterator[Server]:
    with spec.start(persistence=Persistence.AOF_ALWAYS) as srv:
        srv.client.config_set("maxmemory-policy", "noeviction")
        yield srv


def test_well_configured_server_passes(well: Server, goldens: Path) -> None:
    findings = diagnose(well.url, goldens_root=goldens)
    checks = by_check(findings)
    assert [f.check for f in findings] == [
        "server", "goldens", "persistence", "disk writes", "eviction", "memory", "evicted keys",
    ]  # fmt: skip
    assert checks["server"].status == "INFO" and well.spec.version in checks["server"].reason
    assert checks["goldens"].status == "OK"
    assert checks["persistence"].status == "OK" and "always" in checks["persistence"].reason
    assert checks["eviction"].status == "OK"
    assert checks["memory"].status == "OK"
    assert exit_code(findings) == 0
    assert all("\n" not in f.reason for f in findings)


def test_badly_configured_server_fails(spec: ServerSpec, goldens: Path) -> None:
    with spec.start(persistence=Persistence.NONE) as srv:
        srv.client.config_set("maxmemory-policy", "allkeys-lru")
        used = int(srv.client.info("memory")["used_memory"])
        srv.client.config_set("maxmemory", str(int(used * 1.05)))
        checks = by_check(diagnose(srv.url, goldens_root=goldens))
    assert (
        checks["persistence"].status == "FAIL" and "no persistence" in checks["persistence"].reason
    )
    assert checks["eviction"].status == "FAIL" and "allkeys-lru" in checks["eviction"].reason
    assert checks["memory"].status == "FAIL"
    assert exit_code(list(checks.values())) == 1


def test_evictions_that_already_happened_fail(spec: ServerSpec) -> None:
    with spec.start() as srv:
        srv.client.config_set("maxmemory-policy", "allkeys-random")
        used = int(srv.client.info("memory")["used_memory"])
        srv.client.config_set("maxmemory", str(used + 200_000))
        for i in range(200):
            srv.client.set(f"session:{i}:messages", b"x" * 10_000)
        checks = by_check(diagnose(srv.url))
    assert checks["evicted keys"].status == "FAIL", checks["evicted keys"]


@pytest.mark.parametrize(
    ("persistence", "config", "check", "status", "words"),
    [
        (Persistence.AOF_EVERYSEC, {}, "persistence", "WARN", "everysec"),
        # save set explicitly: Persistence.RDB's "--save '60 1'" gives no rules on 6.2
        (Persistence.RDB, {"save": "60 1"}, "persistence", "WARN", "RDB snapshots only"),
        (
            Persistence.NONE,
            {"appendonly": "yes", "appendfsync": "no"},
            "persistence",
            "WARN",
            "fsync no",
        ),
        (Persistence.NONE, {"maxmemory-policy": "volatile-lru"}, "eviction", "WARN", "ttl"),
        (Persistence.NONE, {"maxmemory-policy": "allkeys-lfu"}, "eviction", "WARN", "once a limit"),
    ],
    ids=["everysec", "rdb", "fsync-no", "volatile", "allkeys-no-limit"],
)
def test_risky_settings_warn(
    persistence: Persistence, config: dict[str, str], check: str, status: str, words: str
) -> None:
    with LOCAL[0].start(persistence=persistence) as srv:
        for k, v in config.items():
            srv.client.config_set(k, v)
        finding = by_check(diagnose(srv.url))[check]
    assert (finding.status, words in finding.reason) == (status, True), finding


def test_doctor_only_reads(well: Server) -> None:
    well.client.rpush("session:s:messages", b"{}")
    before_stats = well.client.info("commandstats")
    before = well.client.info("persistence")["rdb_changes_since_last_save"]
    diagnose(well.url)
    after_stats = well.client.info("commandstats")
    sent = {
        k.removeprefix("cmdstat_")
        for k, v in after_stats.items()
        if v["calls"] != before_stats.get(k, {}).get("calls", 0)
    }
    assert sent <= {"info", "config|get", "config", "ping", "hello"}, sent
    assert well.client.info("persistence")["rdb_changes_since_last_save"] == before
    assert well.client.dbsize() == 1


def test_config_denied_is_a_warning_not_a_crash() -> None:
    """CONFIG renamed or denied (managed Redis): INFO still tells AOF and eviction."""
    with LOCAL[0].start(persistence=Persistence.AOF_ALWAYS) as srv:
        srv.client.acl_setuser(
            "ro", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-config"]
        )
        url = f"redis://ro:pw@{srv.host}:{srv.port}"
        checks = by_check(diagnose(url))
    assert checks["config"].status == "WARN" and "CONFIG GET unavailable" in checks["config"].reason
    assert checks["persistence"].status == "WARN" and "unknown" in checks["persistence"].reason
    assert checks["eviction"].status == "OK"  # from INFO memory


def test_goldens_newer_than_the_server_warn(tmp_path: Path) -> None:
    """A golden recorded on the newest server cannot load on the oldest: doctor says so."""
    oldest, newest = LOCAL[0], LOCAL[-1]
    record(schemas.CURRENT_VERSION, tmp_path, spec=newest, fresh=True)
    header = str(newest.rdb_header)
    if oldest.can_load(newest.rdb_header):
        pytest.skip(f"{oldest.id} loads {header}: need two RDB versions")
    with oldest.start() as srv:
        finding = by_check(diagnose(srv.url, goldens_root=tmp_path))["goldens"]
    assert finding.status == "WARN" and header in finding.reason


def test_unreadable_goldens_warn(goldens: Path) -> None:
    (goldens / "1.0" / "manifest.json").write_text("{ truncated")
    with LOCAL[0].start() as srv:
        finding = by_check(diagnose(srv.url, goldens_root=goldens))["goldens"]
    assert (
        finding.status == "WARN" and "manifest.json: not a valid memfix manifest" in finding.reason
    )


def test_no_goldens_is_info(tmp_path: Path) -> None:
    with LOCAL[0].start() as srv:
        finding = by_check(diagnose(srv.url, goldens_root=tmp_path / "none"))["goldens"]
    assert finding.status == "INFO" and "no goldens found" in finding.reason


def test_unreachable_server_is_one_clear_line_without_the_password() -> None:
    with pytest.raises(DoctorError) as info:
        diagnose("redis://:s3cret@127.0.0.1:1/0", timeout=1)
    text = str(info.value)
    assert text.startswith("cannot reach redis://:***@127.0.0.1:1/0")
    assert "s3cret" not in text and "\n" not in text


def test_render_aligns_columns() -> None:
    table = render_findings(
        [Finding("server", "INFO", "redis 7"), Finding("eviction", "FAIL", "x y")]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "REASON"]
    assert {line.index(s) for line, s in zip(lines, ["STATUS", "INFO", "FAIL"], strict=True)} == {
        10
    }
    assert lines[2] == "eviction  FAIL    x y"
