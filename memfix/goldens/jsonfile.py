"""Golden files are canonical JSON: one way to write them and one way to read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

from memfix.errors import GoldenError

__all__ = ["encode_canonical", "read_versioned"]


class _Versioned(Protocol):
    format: str


T = TypeVar("T", bound=_Versioned)


def encode_canonical(value: Any) -> bytes:
    """2-space indented JSON, one element per line, ending in a newline."""
    return msgspec.json.format(msgspec.json.encode(value), indent=2) + b"\n"


def read_versioned(path: Path, kind: type[T], what: str, expected_format: str) -> T:
    """Read ``path`` as ``kind``; a one-line GoldenError naming the file otherwise.

    ``what`` names the file in errors ("dump", "manifest"); the file's own
    ``format`` marker must equal ``expected_format`` so that a change of file
    format is reported as such, never as a confusing diff.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GoldenError(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        value = msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise GoldenError(f"{path}: not a valid memfix {what}: {exc}") from None
    if value.format != expected_format:
        raise GoldenError(
            f"{path}: {what} format {value.format!r}, this memfix reads {expected_format!r}"
        )
    return value
