"""The snapshot extension reads a golden's snapshot file once per session: every
restore mode and server of that golden compares against it. A file that changes
meanwhile (on disk, or written by ``--snapshot-update``) must be read again."""

from __future__ import annotations

import os
from pathlib import Path

from syrupy.data import Snapshot, SnapshotCollection

from memfix.goldens.view import encode_view, encode_view_bytes
from memfix.snapshot import GoldenSnapshotExtension


def read(path: Path) -> object:
    return GoldenSnapshotExtension().read_snapshot_data_from_location(
        snapshot_location=str(path), snapshot_name=path.stem, session_id="s"
    )


def test_a_snapshot_changed_on_disk_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "1.0.json"
    path.write_bytes(b'{"a": 1}\n')
    assert read(path) == b'{"a": 1}\n'
    before = path.stat().st_mtime_ns
    path.write_bytes(b'{"a": 2}\n')  # the same size, in place: only the mtime tells
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    assert read(path) == b'{"a": 2}\n'
    path.write_bytes(b'{"a": 22}\n')
    assert read(path) == b'{"a": 22}\n'
    path.unlink()
    assert read(path) is None


def test_a_snapshot_the_extension_writes_is_read_again_even_with_the_same_stamp(
    tmp_path: Path,
) -> None:
    path = tmp_path / "1.0.json"
    path.write_bytes(b'{"a": 1}\n')
    assert read(path) == b'{"a": 1}\n'
    stamp = path.stat().st_mtime_ns
    collection = SnapshotCollection(location=str(path))
    collection.add(Snapshot(name="1.0", data=b'{"a": 2}\n'))  # same size: only the write tells
    GoldenSnapshotExtension.write_snapshot_collection(snapshot_collection=collection)
    os.utime(path, ns=(stamp, stamp))  # a coarse clock: the same mtime as before
    assert read(path) == b'{"a": 2}\n'


def test_views_are_compared_as_the_utf8_bytes_of_their_text() -> None:
    view = {"sessions": {"s": [{"content": "héllo ☃", "role": "user"}]}, "format": "x"}
    assert encode_view_bytes(view) == encode_view(view).encode("utf-8")
    assert GoldenSnapshotExtension().serialize(view) == encode_view_bytes(view)


def test_a_snapshot_checked_out_with_crlf_line_endings_still_matches(tmp_path: Path) -> None:
    """As text mode read it (universal newlines): git's autocrlf must not fail every case."""
    view = {"sessions": {"s": [{"content": "line\r\nbreak", "role": "user"}]}, "format": "x"}
    expected = GoldenSnapshotExtension().serialize(view)
    assert isinstance(expected, bytes) and b"\r" not in expected  # the view's CR is escaped
    path = tmp_path / "1.0.json"
    path.write_bytes(expected.replace(b"\n", b"\r\n"))
    assert read(path) == expected
