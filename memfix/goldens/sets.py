"""Golden sets: which formats a project guards, and where their goldens live.

Configured in ``pyproject.toml``::

    [tool.memfix.sets.chat]
    format = "chat_app.golden_format:FORMAT"   # or a built-in name, e.g. "memfix"
    dir = "golden/chat"                        # default: golden/<set name>

A project that configures no set has one: ``memfix``, format ``memfix``, in
``golden/`` (the layout memfix's own goldens have had from the start). With
several sets, commands need ``--set NAME`` unless ``[tool.memfix]`` names the
one they use by default (``default-set = "chat"``); the pytest plugin runs
every set either way.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from memfix.errors import ConfigError, GoldenError
from memfix.formats import Format, Version, current_version, resolve_format
from memfix.goldens.golden import DEFAULT_SET, Golden, find_goldens

__all__ = ["DEFAULT_SNAPSHOTS", "GoldenSet", "ProjectConfig", "find_pyproject", "load_config"]

#: Where syrupy puts the snapshots of ``tests/test_goldens.py`` (relative to the project).
DEFAULT_SNAPSHOTS = "tests/__snapshots__/test_goldens"


@dataclass(frozen=True)
class GoldenSet:
    """One format and the directory of its goldens."""

    name: str
    format_ref: str
    root: Path
    project_root: Path | None = None
    snapshot_dir: Path = Path(DEFAULT_SNAPSHOTS)

    @cached_property
    def format(self) -> Format:
        return resolve_format(self.format_ref, project_root=self.project_root)

    @property
    def current_version(self) -> Version:
        return current_version(self.format)

    @property
    def id_prefix(self) -> str:
        """Test ids and snapshot names of the default set keep their pre-sets form."""
        return "" if self.name == DEFAULT_SET else f"{self.name}-"

    def snapshot_file(self, version: Version | str) -> Path:
        """The committed snapshot of golden ``version`` (what the plugin writes, verify reads)."""
        return self.snapshot_dir / f"{self.id_prefix}{version}.json"

    def goldens(self) -> list[Golden]:
        return find_goldens(self.root, self.name)

    def select(self, versions: Sequence[str] = ()) -> list[Golden]:
        """The goldens named (all when empty); a missing or empty set is an error."""
        goldens = self.goldens()
        if not goldens:
            where = self.root if self.root.is_dir() else f"{self.root} (missing)"
            raise GoldenError(
                f"golden set {self.name!r}: no goldens in {where} "
                f"(record one with `memfix record --version {self._hint()}`)"
            )
        if not versions:
            return goldens
        by_version = {g.version: g for g in goldens}
        chosen = []
        for v in versions:
            version = Version.parse(v)
            if version not in by_version:
                have = ", ".join(str(x) for x in by_version)
                raise GoldenError(
                    f"golden set {self.name!r}: no golden {version} under {self.root}/ "
                    f"(have: {have})"
                )
            chosen.append(by_version[version])
        return chosen

    def _hint(self) -> str:
        try:
            return str(self.current_version)
        except Exception:  # the hint must not hide the real error
            return "X.Y"


@dataclass(frozen=True)
class ProjectConfig:
    """The golden sets of a project (``sets``, in configuration order)."""

    sets: tuple[GoldenSet, ...]
    pyproject: Path | None = None
    configured: bool = False  # whether [tool.memfix] names sets
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    default_set: str | None = None  # [tool.memfix] default-set: what commands use without --set

    def choose(self, name: str | None) -> GoldenSet:
        """The set named, the default set, or the only one; a ConfigError listing them otherwise."""
        names = [s.name for s in self.sets]
        if name is None:
            if len(self.sets) == 1:
                return self.sets[0]
            if self.default_set is None:
                raise ConfigError(
                    f"{len(self.sets)} golden sets configured ({', '.join(names)}): pass --set NAME"
                )
            name = self.default_set
        for s in self.sets:
            if s.name == name:
                return s
        raise ConfigError(f"no golden set {name!r}; configured: {', '.join(names)}")

    def with_root(self, name: str | None, root: Path) -> ProjectConfig:
        """The same config with one set's directory overridden (``--goldens DIR``)."""
        chosen = self.choose(name)
        sets = tuple(replace(s, root=root) if s is chosen else s for s in self.sets)
        return ProjectConfig(sets, self.pyproject, self.configured, self.raw, self.default_set)

    def with_snapshots(self, directory: Path) -> ProjectConfig:
        """The same config with another snapshot directory (``--snapshots DIR``)."""
        sets = tuple(replace(s, snapshot_dir=directory) for s in self.sets)
        return ProjectConfig(sets, self.pyproject, self.configured, self.raw, self.default_set)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    data: dict[str, Any] = tomllib.loads(text)
    return data


def load_config(start: Path | None = None, *, pyproject: Path | None = None) -> ProjectConfig:
    """Read ``[tool.memfix]`` from ``pyproject`` (or the nearest one above ``start``)."""
    path = pyproject or find_pyproject((start or Path.cwd()).resolve())
    if path is None:
        base = (start or Path.cwd()).resolve()
        return ProjectConfig(
            (GoldenSet(DEFAULT_SET, "memfix", base / "golden", None, base / DEFAULT_SNAPSHOTS),)
        )
    project_root = path.parent
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = _toml_loads(text)
    except ValueError as exc:  # TOMLDecodeError is a ValueError
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("memfix", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.memfix] must be a table")
    snapshots = table.get("snapshots", DEFAULT_SNAPSHOTS)
    if not isinstance(snapshots, str) or not snapshots:
        raise ConfigError(f"{path}: [tool.memfix] snapshots must be a directory path")
    snapshot_dir = project_root / snapshots
    sets_table = table.get("sets", {})
    if not isinstance(sets_table, dict):
        raise ConfigError(f"{path}: [tool.memfix.sets] must be a table of sets")
    sets: list[GoldenSet] = []
    for name, entry in sets_table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: [tool.memfix.sets.{name}] must be a table")
        if not name.replace("_", "").replace("-", "").isalnum() or not name.isascii():
            raise ConfigError(f"{path}: golden set name {name!r}: use letters, digits, - and _")
        unknown = set(entry) - {"format", "dir"}
        if unknown:
            raise ConfigError(
                f"{path}: [tool.memfix.sets.{name}]: unknown key {sorted(unknown)[0]!r}"
            )
        fmt = entry.get("format")
        if not isinstance(fmt, str) or not fmt:
            raise ConfigError(
                f'{path}: [tool.memfix.sets.{name}] needs format = "name or module:attr"'
            )
        directory = entry.get("dir", f"golden/{name}")
        if not isinstance(directory, str) or not directory:
            raise ConfigError(f"{path}: [tool.memfix.sets.{name}] dir must be a path")
        sets.append(GoldenSet(name, fmt, project_root / directory, project_root, snapshot_dir))
    if not sets:
        return ProjectConfig(
            (
                GoldenSet(
                    DEFAULT_SET, "memfix", project_root / "golden", project_root, snapshot_dir
                ),
            ),
            path,
            False,
            table,
        )
    default = table.get("default-set")
    if default is not None and default not in {s.name for s in sets}:
        raise ConfigError(f"{path}: [tool.memfix] default-set {default!r} is not a configured set")
    return ProjectConfig(tuple(sets), path, True, table, default)
