"""``manifest.json``: what a golden is, what made it, and checksums of its files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

from memfix.goldens.jsonfile import check_plain_file, encode_canonical, read_versioned

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


class Manifest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """``schema_version`` is the format's data version (the name predates formats);
    ``set`` and ``format_name`` are absent from goldens recorded before golden sets,
    which belong to the default set ``memfix`` of format ``memfix``."""

    format: str  # always written (MANIFEST_FORMAT): omit_defaults must not drop it
    golden_set: str | None = msgspec.field(default=None, name="set")
    format_name: str | None = None
    memfix_version: str
    schema_version: str
    schema_module_sha256: str | None = None
    server: ServerInfo
    counts: Counts
    scenario: ScenarioInfo
    files: dict[str, str]  # file name -> sha256 hex

    def encode(self) -> bytes:
        return encode_canonical(self)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return read_versioned(path, cls, "manifest", MANIFEST_FORMAT)

    @property
    def data_format(self) -> str:
        return self.format_name or "memfix"


def sha256_file(path: Path, limit: int = 1 << 34) -> str:
    """Checksum of a plain file (no symlink, FIFO or device; at most ``limit`` bytes)."""
    check_plain_file(path, limit)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
