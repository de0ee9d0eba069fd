"""A syrupy extension that stores one readable JSON file per golden version.

Why not syrupy's default amber format: a reviewer should open
``__snapshots__/test_goldens/1.2.json`` and read exactly what golden 1.2 loads
as today, and the file should not churn when syrupy's own format changes.
The view is written with sorted keys and one field per line, so a PR diff
shows precisely which old messages now decode differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation
from syrupy.types import SerializableData, SerializedData, SnapshotIndex

from memfix.goldens.view import encode_view

__all__ = ["GoldenSnapshotExtension", "snapshot_extension"]


class GoldenSnapshotExtension(SingleFileSnapshotExtension):
    """``<version>.json`` per golden; use with ``snapshot(name=version)``."""

    file_extension = "json"
    _write_mode = WriteMode.TEXT

    def serialize(self, data: SerializableData, **kwargs: Any) -> SerializedData:
        if isinstance(data, dict):
            return encode_view(data)
        return super().serialize(data, **kwargs)

    def diff_lines(
        self, serialized_data: SerializedData, snapshot_data: SerializedData
    ) -> Iterator[str]:
        """syrupy's line diff, after one line naming the sessions and keys that differ
        (the line diff alone shows a changed field, not whose)."""
        summary = _summary(serialized_data, snapshot_data)
        if summary:
            yield summary
        yield from super().diff_lines(serialized_data, snapshot_data)

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


def _summary(received: SerializedData, expected: SerializedData) -> str | None:
    try:
        new = msgspec.json.decode(str(received))
        old = msgspec.json.decode(str(expected))
    except (msgspec.DecodeError, UnicodeDecodeError):
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
