"""Put a golden into a fresh real server, from its RDB file or its JSON dump."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager

from memfix.goldens.dump import KeyspaceDump, key_text, restore_dump
from memfix.goldens.golden import Golden
from memfix.servers import Server, ServerSpec

__all__ = ["RestoreMode", "first_difference", "restored_server"]


class RestoreMode(str, enum.Enum):
    """``rdb``: the server loads ``dump.rdb`` at start (what a real upgrade does);
    ``json``: ``dump.json`` is replayed command by command (works on any version)."""

    RDB = "rdb"
    JSON = "json"


@contextmanager
def restored_server(golden: Golden, spec: ServerSpec, mode: RestoreMode) -> Iterator[Server]:
    """A fresh server of ``spec`` holding ``golden``'s data; stopped on exit.

    Raises :class:`memfix.servers.DumpTooNewError` (before starting anything)
    when ``mode`` is RDB and the dump is newer than ``spec`` can load.
    """
    if mode is RestoreMode.RDB:
        with spec.start(dump=golden.rdb_path) as server:
            yield server
    else:
        dump = golden.dump
        with spec.start() as server:
            restore_dump(dump, server.client)
            yield server


def first_difference(expected: KeyspaceDump, actual: KeyspaceDump) -> str | None:
    """One line naming the first key that differs between two dumps, or ``None``."""
    exp = {key_text(e.key): e for e in expected.keys}
    act = {key_text(e.key): e for e in actual.keys}
    for key in sorted(exp.keys() | act.keys()):
        if key not in act:
            return f"key {key!r} is missing"
        if key not in exp:
            return f"key {key!r} is unexpected"
        a, b = exp[key], act[key]
        if type(a) is not type(b):
            return f"key {key!r} is a {b.__struct_config__.tag}, expected {a.__struct_config__.tag}"
        if a != b:
            return f"key {key!r} holds different data"
    return None
