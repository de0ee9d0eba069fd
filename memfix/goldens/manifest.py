"""``manifest.json``: what a golden is, what made it, and checksums of its files."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import msgspec

from memfix.goldens.jsonfile import check_plain_file, encode_canonical, read_versioned

__all__ = [
    "DEFAULT_SET",
    "MANIFEST_FORMAT",
    "Counts",
    "Manifest",
    "ScenarioInfo",
    "ServerInfo",
    "sha256_file",
]

MANIFEST_FORMAT = "memfix-golden/1"
#: The set of goldens recorded before golden sets existed (``golden/<version>/``).
DEFAULT_SET = "memfix"
#: The scenario name the library formats record under (``langchain-chat/1``).
_LIBRARY_SCENARIO = re.compile(r"([a-z][a-z0-9-]*)-chat/1")


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
    which belong to the default set ``memfix`` of format ``memfix``. ``packages``:
    the exact releases of the distributions that wrote the data (library formats).

    Read compatibly, never rewritten: the library goldens recorded before golden
    sets (:attr:`before_sets_library`) name no set and no format; their format is
    in ``scenario.name`` (``<format>-chat/1``), their set is the directory holding
    them, and their ``counts.messages`` counts stored list elements.
    """

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
    packages: dict[str, str] | None = None

    def encode(self) -> bytes:
        return encode_canonical(self)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return read_versioned(path, cls, "manifest", MANIFEST_FORMAT)

    @property
    def before_sets_library(self) -> bool:
        """A library golden recorded before golden sets: packages, but no set or format."""
        return (
            self.packages is not None
            and self.golden_set is None
            and self.format_name is None
            and _LIBRARY_SCENARIO.fullmatch(self.scenario.name) is not None
        )

    @property
    def claimed_set(self) -> str | None:
        """The set the golden says it belongs to (``None``: the directory decides)."""
        if self.golden_set is not None:
            return self.golden_set
        return None if self.before_sets_library else DEFAULT_SET

    @property
    def data_format(self) -> str:
        if self.format_name is not None:
            return self.format_name
        match = _LIBRARY_SCENARIO.fullmatch(self.scenario.name)
        if self.before_sets_library and match is not None:
            return match.group(1)
        return "memfix"

    @property
    def messages_are_records(self) -> bool:
        """``counts.messages`` counts stored list elements (one element may hold several
        messages, e.g. a pydantic-ai run), not the messages of the view."""
        return self.before_sets_library


def sha256_file(path: Path, limit: int = 1 << 34) -> str:
    """Checksum of a plain file (no symlink, FIFO or device; at most ``limit`` bytes)."""
    check_plain_file(path, limit)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
