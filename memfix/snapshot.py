"""A syrupy extension that stores one readable JSON file per golden version.

Why not syrupy's default amber format: a reviewer should open
``__snapshots__/test_goldens/1.2.json`` and read exactly what golden 1.2 loads
as today, and the file should not churn when syrupy's own format changes.
The view is written with sorted keys and one field per line, so a PR diff
shows precisely which old messages now decode differently.
"""

from __future__ import annotations

from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation
from syrupy.types import SerializableData, SerializedData, SnapshotIndex

from memfix.goldens.view import encode_view

__all__ = ["GoldenSnapshotExtension"]


class GoldenSnapshotExtension(SingleFileSnapshotExtension):
    """``<version>.json`` per golden; use with ``snapshot(name=version)``."""

    file_extension = "json"
    _write_mode = WriteMode.TEXT

    def serialize(self, data: SerializableData, **kwargs: Any) -> SerializedData:
        if isinstance(data, dict):
            return encode_view(data)
        return super().serialize(data, **kwargs)

    @classmethod
    def get_snapshot_name(cls, *, test_location: PyTestLocation, index: SnapshotIndex = 0) -> str:
        # A custom name (the golden version) is the whole file name, so every
        # restore mode and server of one golden compares against one file.
        if isinstance(index, str):
            return index
        return super().get_snapshot_name(test_location=test_location, index=index)
