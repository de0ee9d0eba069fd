"""Meaning in verify: a golden's view against the snapshot pytest commits for it.

A check that only decodes passes a change of what old data *means* (a field
silently dropped, a value shifted); the comparison with the snapshot catches it,
one line per session naming the first differing message index and field, and
``memfix verify`` fails with a meaning row listing the changed sessions.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from click.testing import CliRunner

from memfix import schemas
from memfix.cli import main
from memfix.errors import GoldenError
from memfix.goldens import load_config, verify_golden
from memfix.goldens.meaning import check_meaning, compare_with_snapshot
from memfix.goldens.restore import RestoreMode, restored_server
from memfix.goldens.view import golden_view
from memfix.servers import default_spec
from tests.test_record_verify import REPO

SET = load_config(REPO).choose("memfix")
GOLDENS = {str(g.version): g for g in SET.goldens()}


def snapshot_file(version: str) -> Path:
    return SET.snapshot_file(version)


def test_the_snapshots_verify_reads_are_the_ones_pytest_writes() -> None:
    assert SET.snapshot_file("1.3") == REPO / "tests/__snapshots__/test_goldens/1.3.json"


@pytest.fixture(scope="module")
def view_1_3() -> dict[str, Any]:
    with restored_server(GOLDENS["1.3"], default_spec(), RestoreMode.JSON) as server:
        assert isinstance(server.client, redis.Redis)  # a standalone server
        return golden_view(server.client)


@pytest.mark.parametrize("version", list(GOLDENS))
def test_committed_goldens_mean_what_their_snapshots_say(version: str) -> None:
    result = check_meaning(SET, GOLDENS[version])
    assert result.ok, "\n".join(result.lines)
    assert result.sessions > 20
    assert result.summary().startswith(f"{result.sessions} sessions mean what {version}.json")


def assert_metadata_dropped(lines: tuple[str, ...]) -> None:
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "session 'v1.1-metadata': message 1 field 'metadata' is gone (the snapshot has "
        "{'cached': False, 'latency_ms': 835,"
    )


def test_a_dropped_field_is_reported_by_session_index_and_field(view_1_3: dict[str, Any]) -> None:
    view = copy.deepcopy(view_1_3)
    for message in view["sessions"]["v1.1-metadata"]:
        message.pop("metadata", None)
    result = compare_with_snapshot(view, snapshot_file("1.3"))
    assert_metadata_dropped(result.lines)


def test_a_shifted_value_is_reported(view_1_3: dict[str, Any]) -> None:
    view = copy.deepcopy(view_1_3)
    for message in view["sessions"]["v1.2-retried"]:
        message["timestamp"] = round(message["timestamp"] + 3600, 3)
    view["sessions"]["timeline"] = view["sessions"]["timeline"][1:]
    result = compare_with_snapshot(view, snapshot_file("1.3"))
    assert len(result.lines) == 2, result.lines
    timeline, retried = result.lines
    assert timeline.startswith("session 'timeline': message 0 field 'content' differs at char 11")
    assert retried.startswith("session 'v1.2-retried': message 0 field 'timestamp' is now 17")
    assert "where the snapshot has 17" in retried


def test_a_reader_change_of_meaning_decodes_but_fails_verify_on_meaning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The current reader drops metadata: every record still decodes."""
    # The Record -> Message mapping; with the fast path off, every record takes it.
    to_message = schemas._to_message

    def forgetful(record: Any) -> Any:
        return msgspec.structs.replace(to_message(record), metadata={})

    monkeypatch.setattr(schemas, "_FAST", False)
    monkeypatch.setattr(schemas, "_to_message", forgetful)
    golden = GOLDENS["1.1"]
    rows = verify_golden(golden, [default_spec()], golden_set=SET)
    assert [r.mode for r in rows if r.failed] == ["meaning"]  # every record still decodes
    (meaning,) = [r for r in rows if r.failed]
    assert meaning.detail == (
        "1 change(s) against tests/__snapshots__/test_goldens/1.1.json: session 'v1.1-metadata'"
    ) or meaning.detail.endswith("1.1.json: session 'v1.1-metadata'")
    assert_metadata_dropped(meaning.lines)
    result = check_meaning(SET, golden)
    assert_metadata_dropped(result.lines)
    assert not result.ok and "1 change(s) against 1.1.json" in result.summary()


def test_a_missing_or_empty_snapshot_is_an_error(tmp_path: Path, view_1_3: dict[str, Any]) -> None:
    with pytest.raises(GoldenError, match=r"1\.3\.json: no snapshot to compare with"):
        compare_with_snapshot(view_1_3, tmp_path / "1.3.json")
    empty = tmp_path / "1.3.json"
    empty.write_text(json.dumps({"format": "memfix-view/1", "keyspace": {}, "sessions": {}}))
    with pytest.raises(GoldenError, match="holds no session"):
        compare_with_snapshot(view_1_3, empty)
    empty.write_text("[1, 2")
    with pytest.raises(GoldenError, match="not a valid memfix snapshot"):
        compare_with_snapshot(view_1_3, empty)


def test_verify_fails_on_a_missing_snapshot_naming_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["verify", "1.0", "-q", "--snapshots", str(tmp_path), "--server", default_spec().id]
    )
    assert result.exit_code == 1, result.output
    (row,) = [line for line in result.output.splitlines() if " meaning " in line]
    assert " FAIL " in row and f"{tmp_path}/1.0.json: no snapshot to compare with" in row
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: 1 check(s) failed: 1.0/meaning")
