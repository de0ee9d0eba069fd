"""Resolving a format named in ``[tool.memfix]``: a built-in name or ``package.module:attr``.

Built-ins are import paths too, imported only when named, so a project that
uses one framework's format never imports the others.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from memfix.errors import ConfigError, GoldenError
from memfix.formats.base import Format
from memfix.version import Version

__all__ = ["BUILTIN_FORMATS", "current_version", "resolve_format"]

#: Built-in format name -> import path: memfix's own store and the stores of the
#: frameworks people use (each written and read through the library's own API).
BUILTIN_FORMATS: dict[str, str] = {
    "memfix": "memfix.formats.memfix:MEMFIX_FORMAT",
    "langchain": "memfix.formats.langchain:langchain",
    "llama-index": "memfix.formats.llama_index:llama_index",
    "pydantic-ai": "memfix.formats.pydantic_ai:pydantic_ai",
}


def resolve_format(ref: str, *, project_root: Path | None = None) -> Format:
    """The format ``ref`` names, checked against the protocol; a one-line ConfigError otherwise.

    ``project_root`` (the directory of the pyproject naming it) goes on
    ``sys.path`` so a project's own module imports from a console script too.
    """
    path = BUILTIN_FORMATS.get(ref, ref)
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        known = ", ".join(sorted(BUILTIN_FORMATS))
        raise ConfigError(
            f"format {ref!r}: not a built-in format ({known}) "
            "nor an import path package.module:attr"
        )
    if project_root is not None and str(project_root) not in sys.path:
        sys.path.insert(0, str(project_root))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may fail in any way; say which and why
        raise ConfigError(
            f"format {ref!r}: cannot import {module_name}: {type(exc).__name__}: {exc}"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"format {ref!r}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, type):
        obj = obj()
    _check(ref, obj)
    fmt: Format = obj
    return fmt


def current_version(fmt: Format) -> Version:
    """The format's declared current version, parsed (a GoldenError names the format)."""
    try:
        return Version.parse(fmt.current_version, where=f"format {fmt.name!r} current_version")
    except GoldenError as exc:
        raise ConfigError(str(exc)) from None


def _check(ref: str, obj: Any) -> None:
    missing = [
        name
        for name in ("name", "current_version", "key_patterns", "write_scenario", "read_sessions")
        if not hasattr(obj, name)
    ]
    if missing:
        raise ConfigError(f"format {ref!r}: not a memfix format (missing {', '.join(missing)})")
    if not isinstance(obj.name, str) or not obj.name:
        raise ConfigError(f"format {ref!r}: name must be a non-empty string")
    patterns = obj.key_patterns
    if (
        not isinstance(patterns, (tuple, list))
        or not patterns
        or not all(isinstance(p, str) and p for p in patterns)
    ):
        raise ConfigError(f"format {ref!r}: key_patterns must be a non-empty tuple of strings")
    if not callable(obj.write_scenario) or not callable(obj.read_sessions):
        raise ConfigError(f"format {ref!r}: write_scenario and read_sessions must be callable")
    current_version(obj)
