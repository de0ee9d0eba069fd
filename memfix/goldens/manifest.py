"""``manifest.json``: what a golden is, what made it, and checksums of its files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

from memfix.goldens.jsonfile import encode_canonical, read_versioned

__all__ = ["MANIFEST_FORMAT", "Counts", "Manifest", "ScenarioInfo", "ServerInfo", "sha256_file"]

MANIFEST_FORMAT = "memfix-golden/1"


class ServerInfo(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    product: str
    version: str
    rdb_header: str  # e.g. "REDIS0009", read from the dump file itself


class Counts(msgspec.Struct, forbid_unknown_fields=True):
    keys: int
    sessions: int
    messages: int
    records_by_version: dict[str, int]


class ScenarioInfo(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    seed: str
    previous_golden: str | None
    description: str


class Manifest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    format: str = MANIFEST_FORMAT
    memfix_version: str
    schema_version: str
    schema_module_sha256: str
    server: ServerInfo
    counts: Counts
    scenario: ScenarioInfo
    files: dict[str, str]  # file name -> sha256 hex
    # Library formats: exact versions of the distributions that wrote the golden
    # (the whole isolated environment for goldens recorded with older releases).
    packages: dict[str, str] | None = None

    def encode(self) -> bytes:
        return encode_canonical(self)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return read_versioned(path, cls, "manifest", MANIFEST_FORMAT)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
