"""A syrupy extension that stores one readable JSON file per golden version.

Why not syrupy's default amber format: a reviewer should open
``__snapshots__/test_goldens/1.2.json`` and read exactly what golden 1.2 loads
as today, and the file should not churn when syrupy's own format changes.
The view is written with sorted keys and one field per line, so a PR diff
shows precisely which old messages now decode differently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from syrupy.data import SnapshotCollection
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation
from syrupy.types import SerializableData, SerializedData, SnapshotIndex

from memfix.goldens.view import encode_view_bytes

__all__ = ["GoldenSnapshotExtension", "snapshot_extension"]


class GoldenSnapshotExtension(SingleFileSnapshotExtension):
    """``<version>.json`` per golden; use with ``snapshot(name=version)``.

    The file is UTF-8 JSON text, compared as bytes: every restore mode and
    server of a golden compares against the same file, so it is read once per
    session (again when it changes on disk), and a view of a few hundred KB is
    not decoded to ``str`` for each case. Failures still show a text diff.
    """

    file_extension = "json"
    _write_mode = WriteMode.BINARY

    def serialize(self, data: SerializableData, **kwargs: Any) -> SerializedData:
        if isinstance(data, dict):
            return encode_view_bytes(data)
        if isinstance(data, (bytes, bytearray, memoryview)):
            return super().serialize(data, **kwargs)
        return str(data).encode("utf-8")

    def read_snapshot_data_from_location(
        self, *, snapshot_location: str, snapshot_name: str, session_id: str
    ) -> SerializableData | None:
        try:
            stat = os.stat(snapshot_location)
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = _read_cache.get(snapshot_location)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        data = super().read_snapshot_data_from_location(
            snapshot_location=snapshot_location,
            snapshot_name=snapshot_name,
            session_id=session_id,
        )
        if isinstance(data, bytes) and b"\r" in data:
            # A checkout with CRLF line endings (git's autocrlf): read as text mode did,
            # with universal newlines (a view's own CRs are escaped inside its strings).
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if data is not None:
            _read_cache[snapshot_location] = (stamp, data)
        return data

    @classmethod
    def write_snapshot_collection(
        cls, *, snapshot_collection: SnapshotCollection, **kwargs: Any
    ) -> None:
        # A rewrite in the same clock tick with the same size would keep the stamp.
        _read_cache.pop(snapshot_collection.location, None)
        super().write_snapshot_collection(snapshot_collection=snapshot_collection, **kwargs)

    def diff_lines(
        self, serialized_data: SerializedData, snapshot_data: SerializedData
    ) -> Iterator[str]:
        """syrupy's line diff of the text, after one line naming the sessions and keys
        that differ (the line diff alone shows a changed field, not whose)."""
        received, expected = _text(serialized_data), _text(snapshot_data)
        summary = _summary(received, expected)
        if summary:
            yield summary
        yield from super().diff_lines(received, expected)

    @classmethod
    def get_snapshot_name(cls, *, test_location: PyTestLocation, index: SnapshotIndex = 0) -> str:
        # A custom name (the golden version) is the whole file name, so every
        # restore mode and server of one golden compares against one file.
        if isinstance(index, str):
            return index
        return super().get_snapshot_name(test_location=test_location, index=index)


@cache
def snapshot_extension(directory: Path | None) -> type[GoldenSnapshotExtension]:
    """The extension writing into ``directory`` (the project's ``[tool.memfix] snapshots``),
    whichever test module uses it: the file ``memfix verify`` reads is the one pytest wrote."""
    if directory is None:
        return GoldenSnapshotExtension

    class _InDirectory(GoldenSnapshotExtension):
        @classmethod
        def dirname(cls, *, test_location: PyTestLocation) -> str:
            return str(directory)

    return _InDirectory


#: Snapshot bytes by path, with the (mtime, size, inode) they were read at.
_read_cache: dict[str, tuple[tuple[int, int, int], SerializableData]] = {}


def _text(data: SerializedData) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


def _summary(received: str, expected: str) -> str | None:
    try:
        new = msgspec.json.decode(received)
        old = msgspec.json.decode(expected)
    except msgspec.DecodeError:
        return None
    if not isinstance(new, dict) or not isinstance(old, dict):
        return None
    parts = []
    for section in ("sessions", "keyspace"):
        a, b = old.get(section) or {}, new.get(section) or {}
        if not isinstance(a, dict) or not isinstance(b, dict):
            continue
        changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if changed:
            shown = ", ".join(repr(k[:80]) for k in changed[:5])
            more = f" (+{len(changed) - 5} more)" if len(changed) > 5 else ""
            parts.append(f"{section} that differ: {shown}{more}")
    return "; ".join(parts) or None
