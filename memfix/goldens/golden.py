"""A committed golden: ``<set dir>/<version>/`` with its dump files and manifest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from memfix.errors import GoldenError
from memfix.formats import Version
from memfix.goldens.dump import KeyspaceDump, read_dump
from memfix.goldens.jsonfile import MAX_JSON_BYTES, MAX_SMALL_BYTES, check_plain_file
from memfix.goldens.manifest import DEFAULT_SET, Manifest, sha256_file
from memfix.servers import RdbHeader, ServerError, rdb_header

__all__ = [
    "DEFAULT_SET",
    "GOLDEN_FILES",
    "REQUIRED_FILES",
    "Golden",
    "find_goldens",
    "select_goldens",
]

#: Files a golden may hold besides ``manifest.json``; the manifest checksums each.
#: ``capture.json``: where, when and how a captured golden's data was taken and redacted.
GOLDEN_FILES = ("dump.rdb", "dump.json", "schema.json", "capture.json")
#: Files every golden holds (``schema.json`` only when its format has a JSON schema).
REQUIRED_FILES = ("dump.rdb", "dump.json")
_LIMITS = {
    "dump.rdb": 1 << 34,
    "dump.json": MAX_JSON_BYTES,
    "schema.json": MAX_SMALL_BYTES,
    "capture.json": MAX_SMALL_BYTES,
}


@dataclass(frozen=True)
class Golden:
    """A golden directory and its parsed manifest (files are checked on demand)."""

    path: Path
    manifest: Manifest
    version: Version
    golden_set: str = DEFAULT_SET

    @classmethod
    def open(cls, path: Path, golden_set: str = DEFAULT_SET) -> Golden:
        version = Version.parse(path.name, where=f"{path.parent}/ golden directory")
        manifest = Manifest.read(path / "manifest.json")
        if manifest.schema_version != str(version):
            raise GoldenError(
                f"{path / 'manifest.json'}: says version {_short(manifest.schema_version)}, "
                f"but lives in {path.name}/"
            )
        claimed = manifest.claimed_set
        if claimed is not None and claimed != golden_set:
            raise GoldenError(
                f"{path / 'manifest.json'}: belongs to golden set {_short(claimed)}, "
                f"found in set {golden_set!r}"
            )
        return cls(path, manifest, version, golden_set)

    @property
    def label(self) -> str:
        """``1.2`` in the default set, ``chat 1.2`` in others (for messages)."""
        return (
            str(self.version)
            if self.golden_set == DEFAULT_SET
            else f"{self.golden_set} {self.version}"
        )

    @property
    def captured(self) -> bool:
        """Its data was captured from a server (``memfix capture``), not written by the
        format's scenario: the checksummed ``capture.json`` says how."""
        return "capture.json" in self.manifest.files

    @property
    def sort_key(self) -> Version:
        return self.version

    @property
    def rdb_path(self) -> Path:
        return self.path / "dump.rdb"

    @property
    def json_path(self) -> Path:
        return self.path / "dump.json"

    def check(self) -> None:
        """Every listed file present, plain, and matching its manifest checksum; no file
        the manifest does not list; or a GoldenError naming the file."""
        files = self.manifest.files
        for name in files:
            if name not in GOLDEN_FILES:
                raise GoldenError(
                    f"{self.path / 'manifest.json'}: lists {_short(name)!s}, "
                    f"not a golden file ({', '.join(GOLDEN_FILES)})"
                )
        for name in REQUIRED_FILES:
            if name not in files:
                raise GoldenError(f"{self.path / 'manifest.json'}: no checksum for {name}")
        try:
            present = sorted(p.name for p in self.path.iterdir())
        except OSError as exc:
            raise GoldenError(f"{self.path}: cannot list ({exc.strerror})") from None
        extra = [n for n in present if n != "manifest.json" and n not in files]
        if extra:
            raise GoldenError(
                f"{self.path / _short(extra[0])}: not listed in the manifest "
                "(a golden holds only the files its manifest checksums)"
            )
        for name, expected in files.items():
            path = self.path / name
            if not path.exists() and not path.is_symlink():
                raise GoldenError(f"{path}: missing (the manifest lists it)")
            check_plain_file(path, _LIMITS[name])
            actual = sha256_file(path, _LIMITS[name])
            if actual != expected:
                raise GoldenError(
                    f"{path}: sha256 {actual[:12]}... does not match the manifest's "
                    f"{_short(expected, 12)}...; released goldens are immutable"
                )

    def rdb_header(self) -> RdbHeader:
        check_plain_file(self.rdb_path, _LIMITS["dump.rdb"])
        try:
            return rdb_header(self.rdb_path)
        except ServerError as exc:
            raise GoldenError(str(exc)) from None

    @cached_property
    def dump(self) -> KeyspaceDump:
        """``dump.json`` parsed and validated (once per process)."""
        return read_dump(self.json_path)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def find_goldens(root: Path, golden_set: str = DEFAULT_SET) -> list[Golden]:
    """Every golden under ``root``, oldest version first (``[]`` if root is absent).

    Hidden entries (a ``.record-*`` staging directory) and names nothing like a
    version (another set's directory) are skipped; a name that looks like a
    version but is not a valid one (``01.2``, ``1.0\\n``) is an error.
    """
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.name.startswith("."):
            continue
        if not Version.looks_like(child.name):
            continue
        if child.is_symlink() or not child.is_dir():
            raise GoldenError(f"{child}: a golden must be a plain directory")
        found.append(Golden.open(child, golden_set))
    return sorted(found, key=lambda g: g.version)


def select_goldens(
    root: Path, versions: Sequence[str] = (), golden_set: str = DEFAULT_SET
) -> list[Golden]:
    """The goldens named by ``versions`` (all of them when empty; none is an error)."""
    goldens = find_goldens(root, golden_set)
    if not versions:
        if not goldens:
            raise GoldenError(f"{root}: no goldens found (record one with `memfix record`)")
        return goldens
    by_version = {g.version: g for g in goldens}
    chosen = []
    for v in versions:
        version = Version.parse(v)
        if version not in by_version:
            have = ", ".join(str(x) for x in by_version) or "none"
            raise GoldenError(f"no golden {version} under {root}/ (have: {have})")
        chosen.append(by_version[version])
    return chosen
