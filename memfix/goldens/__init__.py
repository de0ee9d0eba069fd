"""Goldens: committed dumps of every released schema version, and the tools around them.

``golden/<version>/`` holds ``dump.rdb`` (the server's own file),
``dump.json`` (portable, deterministic, reviewable), ``schema.json`` (the wire
record's JSON schema) and ``manifest.json`` (versions, counts, checksums).
"""

from memfix.goldens.dump import (
    KeyspaceDump,
    RestoreStats,
    dump_keyspace,
    encode_dump,
    read_dump,
    restore_dump,
)
from memfix.goldens.golden import Golden, find_goldens, parse_version, select_goldens
from memfix.goldens.manifest import Manifest
from memfix.goldens.record import record, write_golden
from memfix.goldens.restore import RestoreMode, first_difference, restored_server
from memfix.goldens.verify import VerifyRow, verify_golden, verify_goldens
from memfix.goldens.view import encode_view, golden_view

__all__ = [
    "Golden",
    "KeyspaceDump",
    "Manifest",
    "RestoreMode",
    "RestoreStats",
    "VerifyRow",
    "dump_keyspace",
    "encode_dump",
    "encode_view",
    "find_goldens",
    "first_difference",
    "golden_view",
    "parse_version",
    "read_dump",
    "record",
    "restore_dump",
    "restored_server",
    "select_goldens",
    "verify_golden",
    "verify_goldens",
    "write_golden",
]
