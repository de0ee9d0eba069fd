"""A committed golden: ``golden/<version>/`` with its dump files and manifest."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from memfix.errors import GoldenError
from memfix.goldens.dump import KeyspaceDump, read_dump
from memfix.goldens.manifest import Manifest, sha256_file
from memfix.servers import RdbHeader, ServerError, rdb_header

__all__ = ["GOLDEN_FILES", "Golden", "find_goldens", "parse_version", "select_goldens"]

#: Files every golden holds besides ``manifest.json``; the manifest checksums each.
GOLDEN_FILES = ("dump.rdb", "dump.json", "schema.json")

_VERSION = re.compile(r"^(\d+)\.(\d+)$")


def parse_version(text: str) -> tuple[int, int]:
    """``"1.4"`` -> ``(1, 4)``; a one-line GoldenError for anything else."""
    match = _VERSION.match(text)
    if not match:
        raise GoldenError(f"{text!r} is not a schema version (expected MAJOR.MINOR, e.g. 1.4)")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class Golden:
    """A golden directory and its parsed manifest (files are checked on demand)."""

    path: Path
    manifest: Manifest

    @classmethod
    def open(cls, path: Path) -> Golden:
        manifest = Manifest.read(path / "manifest.json")
        if manifest.schema_version != path.name:
            raise GoldenError(
                f"{path / 'manifest.json'}: says schema {manifest.schema_version}, "
                f"but lives in {path.name}/"
            )
        return cls(path, manifest)

    @property
    def version(self) -> str:
        return self.path.name

    @property
    def sort_key(self) -> tuple[int, int]:
        return parse_version(self.version)

    @property
    def rdb_path(self) -> Path:
        return self.path / "dump.rdb"

    @property
    def json_path(self) -> Path:
        return self.path / "dump.json"

    def check(self) -> None:
        """Every file present and matching its manifest checksum, or a GoldenError naming it."""
        for name in GOLDEN_FILES:
            expected = self.manifest.files.get(name)
            path = self.path / name
            if expected is None:
                raise GoldenError(f"{self.path / 'manifest.json'}: no checksum for {name}")
            if not path.is_file():
                raise GoldenError(f"{path}: missing (the manifest lists it)")
            actual = sha256_file(path)
            if actual != expected:
                raise GoldenError(
                    f"{path}: sha256 {actual[:12]}... does not match the manifest's "
                    f"{expected[:12]}...; released goldens are immutable"
                )

    def rdb_header(self) -> RdbHeader:
        try:
            return rdb_header(self.rdb_path)
        except ServerError as exc:
            raise GoldenError(str(exc)) from None

    @cached_property
    def dump(self) -> KeyspaceDump:
        """``dump.json`` parsed and validated (once per process)."""
        return read_dump(self.json_path)


def find_goldens(root: Path) -> list[Golden]:
    """Every golden under ``root``, oldest version first (``[]`` if root is absent)."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.is_dir() and _VERSION.match(child.name):
            found.append(Golden.open(child))
    return sorted(found, key=lambda g: g.sort_key)


def select_goldens(root: Path, versions: Sequence[str] = ()) -> list[Golden]:
    """The goldens named by ``versions`` (all of them when empty)."""
    goldens = find_goldens(root)
    if not versions:
        if not goldens:
            raise GoldenError(f"{root}: no goldens found (record one with `memfix record`)")
        return goldens
    by_version = {g.version: g for g in goldens}
    chosen = []
    for v in versions:
        parse_version(v)
        if v not in by_version:
            have = ", ".join(by_version) or "none"
            raise GoldenError(f"no golden {v} under {root}/ (have: {have})")
        chosen.append(by_version[v])
    return chosen
