"""Formats: the kinds of stored chat memory the golden loop records, restores and views.

See :mod:`memfix.formats.base` for the protocol; ``memfix`` (memfix's own store)
is built in, and ``[tool.memfix]`` names others by import path.
"""

from memfix.formats.base import (
    SCENARIO_TTL,
    Format,
    byte_stable,
    fingerprint_of,
    json_schema_of,
    key_matcher,
    package_versions_of,
    reads_cluster,
    record_version_of,
    writer_of,
)
from memfix.formats.registry import BUILTIN_FORMATS, current_version, resolve_format
from memfix.version import Version

__all__ = [
    "BUILTIN_FORMATS",
    "SCENARIO_TTL",
    "Format",
    "Version",
    "byte_stable",
    "current_version",
    "fingerprint_of",
    "json_schema_of",
    "key_matcher",
    "package_versions_of",
    "reads_cluster",
    "record_version_of",
    "resolve_format",
    "writer_of",
]
