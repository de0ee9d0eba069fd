"""Crash durability per persistence policy, and data directories across server versions.

Kill/restart cycles run on the oldest and newest servers (they are the slow
part); the upgrade matrix starts the oldest server's RDB and AOF data under
every newer server, and the downgrades that cannot work must be refused.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from memfix import Message, RedisMemoryStore
from memfix.servers import (
    DumpTooNewError,
    Persistence,
    Server,
    ServerSpec,
    ServerStartError,
    discover,
)
from memfix.testing import (
    DurabilityContract,
    check_data_dir,
    record_data_dir,
    verify_data_dir,
)
from tests.peers import write_report
from tests.test_contract import server_params

LOCAL = discover(docker=False)
OLDEST, NEWEST = LOCAL[0], LOCAL[-1]
FORMATS = [Persistence.RDB, Persistence.AOF_ALWAYS]
Recorded = dict[tuple[str, Persistence], tuple[Path, dict[str, list[Message]]]]


class TestRedisDurability(DurabilityContract):
    @pytest.fixture(params=server_params(heavy=True))
    def start_server(self, request: pytest.FixtureRequest) -> Callable[[Persistence], Server]:
        spec: ServerSpec = request.param
        return lambda persistence: spec.start(persistence=persistence)

    def report(self, test: str, result: object) -> None:
        write_report(test, result)


# -- upgrades ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Recorded:
    """Data dirs written (and cleanly stopped) by the oldest and newest servers."""
    root = tmp_path_factory.mktemp("datadirs")
    out = {}
    for spec in (OLDEST, NEWEST):
        for p in FORMATS:
            d = root / f"{spec.id}-{p.value}"
            out[(spec.id, p)] = (d, record_data_dir(spec, p, d))
    return out


@pytest.mark.parametrize("persistence", FORMATS, ids=[p.value for p in FORMATS])
@pytest.mark.parametrize("target", LOCAL[1:], ids=[s.id for s in LOCAL[1:]])
def test_oldest_data_dir_loads_on_every_newer_server(
    recorded: Recorded,
    target: ServerSpec,
    persistence: Persistence,
    tmp_path: Path,
) -> None:
    data_dir, expected = recorded[(OLDEST.id, persistence)]
    result = verify_data_dir(
        target, persistence, data_dir, expected, source=OLDEST.id, workdir=tmp_path
    )
    assert result.ok, result
    assert result.sessions == len(expected) and result.messages == sum(map(len, expected.values()))


@pytest.mark.parametrize("persistence", FORMATS, ids=[p.value for p in FORMATS])
def test_downgrade_is_refused_with_a_clear_message(
    recorded: Recorded,
    persistence: Persistence,
) -> None:
    if OLDEST.can_load(NEWEST.rdb_header):
        pytest.skip(f"{OLDEST.id} loads {NEWEST.id}'s dumps: no downgrade to refuse")
    data_dir, expected = recorded[(NEWEST.id, persistence)]
    with pytest.raises(DumpTooNewError) as info:
        verify_data_dir(OLDEST, persistence, data_dir, expected)
    text = str(info.value)
    assert OLDEST.id in text and str(data_dir) in text and "\n" not in text
    assert "too new" in text or "EMPTY" in text


def test_without_the_check_an_old_server_fails_on_a_new_dump(
    recorded: Recorded,
    tmp_path: Path,
) -> None:
    """What check_data_dir saves users from (RDB): the old server exits at load."""
    if OLDEST.can_load(NEWEST.rdb_header):
        pytest.skip("no downgrade to refuse")
    data_dir, _ = recorded[(NEWEST.id, Persistence.RDB)]
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    with pytest.raises(ServerStartError, match=r"Can't handle RDB format|Wrong signature"):
        OLDEST.start(persistence=Persistence.RDB, data_dir=copy).stop()


def test_without_the_check_redis_6_starts_empty_on_a_multipart_aof(
    recorded: Recorded,
    tmp_path: Path,
) -> None:
    """Worse (AOF): Redis 6.x ignores a 7.0+ appendonlydir/ and starts with no data at all."""
    if OLDEST.version_tuple >= (7, 0) or NEWEST.version_tuple < (7, 0):
        pytest.skip("needs a 6.x oldest and a 7.0+ newest server")
    data_dir, expected = recorded[(NEWEST.id, Persistence.AOF_ALWAYS)]
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    with pytest.raises(DumpTooNewError, match="EMPTY"):
        check_data_dir(OLDEST, copy, Persistence.AOF_ALWAYS)
    with OLDEST.start(persistence=Persistence.AOF_ALWAYS, data_dir=copy) as server:
        assert expected and RedisMemoryStore(server.client).sessions() == []


def test_same_version_round_trip_is_checked_too(
    recorded: Recorded,
    tmp_path: Path,
) -> None:
    for p in FORMATS:
        data_dir, expected = recorded[(NEWEST.id, p)]
        assert verify_data_dir(NEWEST, p, data_dir, expected, workdir=tmp_path).ok
