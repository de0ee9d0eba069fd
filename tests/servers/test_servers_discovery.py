"""Discovery, selection, the RDB matrix and connect_existing (real binaries only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memfix.servers import (
    DatabaseNotEmpty,
    Persistence,
    RdbHeader,
    ServerError,
    ServerNotFound,
    ServerSpec,
    connect_existing,
    default_spec,
    describe,
    discover,
    rdb_header,
    select_spec,
)
from memfix.servers.discovery import local_specs


def test_discover_is_sorted_oldest_format_first() -> None:
    specs = discover(docker=False)
    assert specs, "no local server found"
    keys = [(s.rdb_version, s.version_tuple) for s in specs]
    assert keys == sorted(keys)
    assert len({(s.backend, s.product, s.version) for s in specs}) == len(specs)
    assert all(s.executable is not None and s.executable.is_file() for s in specs)


def test_default_spec_is_the_oldest_local_server() -> None:
    assert default_spec() == local_specs()[0]
    assert default_spec().backend == "local"


def test_describe_fields() -> None:
    row = describe(default_spec())
    assert list(row) == ["backend", "id", "product", "version", "rdb", "source", "location"]
    assert row["rdb"] == str(default_spec().rdb_header)


@pytest.mark.parametrize("spec", local_specs(), ids=lambda s: s.id)
def test_select_spec_by_id_prefix_and_path(spec: ServerSpec) -> None:
    assert select_spec(spec.id) == spec
    major = f"{spec.product}-{spec.version.split('.')[0]}"
    assert select_spec(major).id.startswith(major + ".")
    assert select_spec(spec.product).product == spec.product
    assert spec.executable is not None
    by_path = select_spec(str(spec.executable))
    assert (by_path.product, by_path.version) == (spec.product, spec.version)


def test_select_spec_default() -> None:
    assert select_spec("default") == default_spec()


def test_select_spec_unknown_lists_available_ids() -> None:
    with pytest.raises(ServerNotFound) as err:
        select_spec("redis-1.2")
    message = str(err.value)
    assert "\n" not in message
    assert "redis-1.2" in message
    for spec in local_specs():
        assert spec.id in message


def test_select_spec_prefix_does_not_match_partial_numbers() -> None:
    with pytest.raises(ServerNotFound):
        select_spec("redis-6.2.1")  # not a prefix of 6.2.14 at a dot boundary


def test_env_servers_come_first(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = local_specs()[-1]
    assert spec.executable is not None
    monkeypatch.setenv("MEMFIX_SERVERS", os.pathsep.join([str(spec.executable), "/nonexistent"]))
    with pytest.warns(UserWarning, match="nonexistent"):
        found = {s.id: s for s in local_specs()}
    assert found[spec.id].source == "env"


def test_pyproject_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = local_specs()[0]
    assert spec.executable is not None
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.memfix]\nservers = ["{spec.executable}"]\n', encoding="utf-8"
    )
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    found = {s.id: s for s in local_specs()}
    assert found[spec.id].source == "config"


def test_rdb_header_parsing(tmp_path: Path) -> None:
    assert rdb_header(b"REDIS0009\xfa") == RdbHeader("REDIS", 9)
    assert str(rdb_header(b"VALKEY080\xfa")) == "VALKEY080"
    assert str(RdbHeader("REDIS", 12)) == "REDIS0012"
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"hello world")
    with pytest.raises(ServerError, match=r"notes\.txt"):
        rdb_header(bad)
    with pytest.raises(ServerError, match=r"missing\.rdb"):
        rdb_header(tmp_path / "missing.rdb")


def _spec(product: str, version: str) -> ServerSpec:
    return ServerSpec("local", product, version, executable=None, source="test")


@pytest.mark.parametrize(
    ("product", "version", "rdb"),
    [
        ("redis", "6.2.14", 9),
        ("redis", "7.0.15", 10),
        ("redis", "7.2.4", 11),
        ("redis", "7.4.1", 12),
        ("redis", "8.2.3", 12),
        ("redis", "8.4.0", 12),
        ("redis", "8.6.0", 13),
        ("valkey", "7.2.5", 11),
        ("valkey", "8.1.8", 11),
        ("valkey", "9.1.2", 80),
    ],
)
def test_rdb_version_table(product: str, version: str, rdb: int) -> None:
    assert _spec(product, version).rdb_version == rdb


def test_compat_matrix_as_measured() -> None:
    r9, r10, r11, r12 = (RdbHeader("REDIS", v) for v in (9, 10, 11, 12))
    v80 = RdbHeader("VALKEY", 80)
    expected = {  # loader: headers it loads (measured, see docs/servers.md)
        ("redis", "6.2.14"): {r9},
        ("redis", "7.0.15"): {r9, r10},
        ("valkey", "8.1.8"): {r9, r10, r11},
        ("redis", "8.2.3"): {r9, r10, r11, r12},
        ("valkey", "9.1.2"): {r9, r10, r11, v80},
    }
    for (product, version), loads in expected.items():
        spec = _spec(product, version)
        for header in (r9, r10, r11, r12, v80):
            assert spec.can_load(header) == (header in loads), (spec.id, str(header))


def test_ids() -> None:
    assert _spec("redis", "7.0.15").id == "redis-7.0.15"
    docker = ServerSpec("docker", "valkey", "9.1.2", image="memfix/valkey:9.1.2", source="docker")
    assert docker.id == "docker-valkey-9.1.2"
    assert Persistence("aof-always") is Persistence.AOF_ALWAYS


def test_connect_existing_refuses_a_non_empty_database() -> None:
    with default_spec().start() as srv:
        existing = connect_existing(srv.url)
        assert existing.spec.version == default_spec().version
        assert existing.spec.backend == "existing"
        assert existing.client.ping()
        existing.client.set(b"k", b"v")
        with pytest.raises(ServerError):
            existing.restart()
        with pytest.raises(ServerError):
            existing.kill()
        existing.stop()
        assert srv.client.ping()  # stop() did not touch the user's server

        with pytest.raises(DatabaseNotEmpty) as err:
            connect_existing(srv.url)
        assert srv.url in str(err.value)
        assert "1 keys" in str(err.value)
        assert connect_existing(srv.url, allow_write=True).client.get(b"k") == b"v"
        assert connect_existing(srv.url + "/1").client.dbsize() == 0  # another db is empty


def test_connect_existing_unreachable() -> None:
    from memfix.servers.plumbing import free_port

    with pytest.raises(ServerError, match="cannot use server"):
        connect_existing(f"redis://127.0.0.1:{free_port()}")
