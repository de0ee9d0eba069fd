"""Goldens: committed dumps of every released data version, and the tools around them.

``<set dir>/<version>/`` holds ``dump.rdb`` (the server's own file),
``dump.json`` (portable, deterministic, reviewable), ``schema.json`` (when the
format has a JSON schema) and ``manifest.json`` (set, format, version, counts,
checksums). A golden *set* is one format's goldens (:mod:`memfix.goldens.sets`);
the golden *case* (:mod:`memfix.goldens.case`) is what verify and the pytest
plugin both run.
"""

from memfix.goldens.case import (
    CaseFailure,
    CaseSkipped,
    ClusterUnreadable,
    GoldenCase,
    RestoredCase,
    check_golden,
    golden_cases,
    restored_case,
)
from memfix.goldens.dump import (
    KeyspaceDump,
    RestoreStats,
    dump_keyspace,
    encode_dump,
    read_dump,
    restore_dump,
)
from memfix.goldens.golden import (
    DEFAULT_SET,
    Golden,
    find_goldens,
    select_goldens,
)
from memfix.goldens.manifest import Manifest
from memfix.goldens.record import record, write_golden
from memfix.goldens.restore import RestoreMode, ServerPool, first_difference, restored_server
from memfix.goldens.selection import choose_servers, choose_targets, standalone_specs
from memfix.goldens.sets import GoldenSet, ProjectConfig, load_config
from memfix.goldens.verify import VerifyRow, verify_golden, verify_goldens
from memfix.goldens.view import GoldenView, encode_view, golden_view

__all__ = [
    "DEFAULT_SET",
    "CaseFailure",
    "CaseSkipped",
    "ClusterUnreadable",
    "Golden",
    "GoldenCase",
    "GoldenSet",
    "GoldenView",
    "KeyspaceDump",
    "Manifest",
    "ProjectConfig",
    "RestoreMode",
    "RestoreStats",
    "RestoredCase",
    "ServerPool",
    "VerifyRow",
    "check_golden",
    "choose_servers",
    "choose_targets",
    "dump_keyspace",
    "encode_dump",
    "encode_view",
    "find_goldens",
    "first_difference",
    "golden_cases",
    "golden_view",
    "load_config",
    "read_dump",
    "record",
    "restore_dump",
    "restored_case",
    "restored_server",
    "select_goldens",
    "standalone_specs",
    "verify_golden",
    "verify_goldens",
    "write_golden",
]
