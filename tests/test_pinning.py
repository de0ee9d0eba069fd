"""Two-phase releases: a store pinned to an older written version, and the forward check
(the previous release reads what this code writes), on real servers."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner

from memfix import Message, RedisMemoryStore, ToolCall, schemas
from memfix.cli import main
from memfix.errors import GoldenError
from memfix.goldens import Golden, find_goldens
from memfix.goldens.forward import forward_check
from memfix.servers import Server, default_spec
from tests.test_record_verify import REPO

CURRENT = schemas.CURRENT_VERSION
PREVIOUS = list(schemas.RELEASED)[-2]


def test_a_pinned_store_writes_the_older_version_and_reads_everything(server: Server) -> None:
    pinned = RedisMemoryStore(server.client, write_version=PREVIOUS)
    current = RedisMemoryStore(server.client)
    tool = [ToolCall("c1", "get_weather", {"city": "Kyoto"})]
    sent = [
        Message("user", "weather?", 1700000000.125, metadata={"k": [1]}),
        Message("assistant", "", 1700000001.5, tool_calls=tool),
        Message("tool", "rain", 1700000002.0, name="get_weather", tool_call_id="c1"),
    ]
    pinned.append_messages("s", sent[:2])
    current.append_message("s", sent[2])
    raws = cast(list[bytes], server.client.lrange("session:s:messages", 0, -1))
    assert [schemas.detect_version(r) for r in raws] == [PREVIOUS, PREVIOUS, CURRENT]
    assert current.get_history("s") == pinned.get_history("s") == sent
    for raw in raws[:2]:  # and the previous release itself reads the pinned records
        schemas.decode_as(raw, PREVIOUS)
    with pytest.raises(Exception, match=f"release {PREVIOUS} reads versions"):
        schemas.decode_as(raws[2], PREVIOUS)
    pinned.compact("s", keep_last=1, summary=Message("system", "summary", 1.0), seen=2)
    head = cast(bytes, server.client.lindex("session:s:messages", 0))
    assert schemas.detect_version(head) == PREVIOUS


def test_a_message_the_pinned_version_cannot_hold_is_refused_before_any_write(
    server: Server,
) -> None:
    store = RedisMemoryStore(server.client, write_version="1.1")  # no ids, no tool role
    ok = Message("user", "hi", 1.5, id=None)
    with pytest.raises(ValueError, match=r"schema 1\.1 cannot represent it losslessly \(id\)"):
        store.append_messages("s", [ok, Message("user", "with an id", 1.5)])
    with pytest.raises(ValueError, match=r"Invalid enum value 'tool'"):
        store.append_message("s", Message("tool", "x", 1.5, id=None))
    assert server.client.llen("session:s:messages") == 0  # nothing of the batch was written
    store.append_message("s", ok)
    assert store.get_history("s") == [ok]


@pytest.mark.parametrize("version", ["9.9", "1.04", "latest"])
def test_an_unknown_write_version_is_refused(server: Server, version: str) -> None:
    with pytest.raises(ValueError, match="is not a released schema version"):
        RedisMemoryStore(server.client, write_version=version)


# -- the forward check ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def goldens() -> list[Golden]:
    return find_goldens(REPO / "golden")


def test_forward_check_unpinned_reports_exactly_the_new_records(goldens: list[Golden]) -> None:
    rows = forward_check(goldens, default_spec())
    assert [r.golden for r in rows] == [v for v in schemas.RELEASED if v != CURRENT]
    for r in rows:
        assert r.reader == PREVIOUS and r.writer == CURRENT and r.written > 300
        assert r.failed and r.unreadable == {CURRENT: r.written}, r.detail
        assert "session:forward:" in r.first and f"release {PREVIOUS} reads versions" in r.first


def test_forward_check_pinned_to_the_previous_version_is_green(goldens: list[Golden]) -> None:
    rows = forward_check(goldens, default_spec(), write_version=PREVIOUS)
    assert rows and all(not r.failed and r.written > 300 for r in rows), [r.detail for r in rows]
    assert all(r.records > r.written for r in rows)  # the golden's own records were read too


def test_forward_check_needs_a_golden_the_reader_knows(goldens: list[Golden]) -> None:
    newest = [g for g in goldens if g.version == CURRENT]
    with pytest.raises(GoldenError, match=r"no golden release .* could have read"):
        forward_check(newest, default_spec())


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_verify_forward_cli(tmp_path: Path) -> None:
    g = str(REPO / "golden")
    code, out = run("verify", "--forward", "--goldens", g, "-q", PREVIOUS)
    assert code == 1 and out.count(" FAIL ") == 1
    assert out.splitlines()[-1].startswith(f"Error: forward check: release {PREVIOUS} cannot read")
    code, out = run("verify", "--forward", "--write-version", PREVIOUS, "--goldens", g, "-q")
    assert code == 0, out
    assert out.splitlines()[-1] == f"ok: release {PREVIOUS} reads everything written as {PREVIOUS}"
    code, out = run("verify", "--forward", "--write-version", "7.7", "--goldens", g, "-q")
    assert code == 1 and out.count("\n") == 1 and "'7.7' is not a released schema version" in out
