"""Golden files: one way to write them, one bounded and safe way to read them.

Goldens are plain files under version control, but a PR can put anything
there: a symlink to ``/dev/zero`` or out of the repository, a FIFO, a huge or
unreadable file, invalid UTF-8, JSON nested a million deep. Every read goes
through :func:`read_bytes_bounded` and :func:`read_versioned`, which turn each
of these into a one-line GoldenError naming the file, without hanging or
reading more than a fixed bound.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

from memfix.errors import GoldenError

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_SMALL_BYTES",
    "check_plain_file",
    "encode_canonical",
    "read_bytes_bounded",
    "read_json",
    "read_versioned",
]

#: Manifests and schemas are a few KiB; anything beyond this is not one.
MAX_SMALL_BYTES = 4 << 20
#: A dump.json bound: far above any scenario, far below a machine's memory.
MAX_JSON_BYTES = 1 << 30


class _Versioned(Protocol):
    format: str


T = TypeVar("T", bound=_Versioned)


def encode_canonical(value: Any) -> bytes:
    """2-space indented JSON, one element per line, ending in a newline."""
    return msgspec.json.format(msgspec.json.encode(value), indent=2) + b"\n"


def check_plain_file(path: Path, limit: int) -> int:
    """``path``'s size, if it is a regular file (not a symlink, FIFO or device) within ``limit``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise GoldenError(f"{path}: missing") from None
    except OSError as exc:
        raise GoldenError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise GoldenError(f"{path}: is a symlink; golden files must be plain files")
    if not stat.S_ISREG(st.st_mode):
        raise GoldenError(f"{path}: not a regular file")
    if st.st_size > limit:
        raise GoldenError(
            f"{path}: {st.st_size} bytes, more than the {limit} a golden file may hold"
        )
    return st.st_size


def read_bytes_bounded(path: Path, limit: int = MAX_SMALL_BYTES) -> bytes:
    """The bytes of a plain file of at most ``limit`` bytes; a one-line GoldenError otherwise."""
    check_plain_file(path, limit)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise GoldenError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between lstat and open
            raise GoldenError(f"{path}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise GoldenError(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise GoldenError(f"{path}: more than the {limit} bytes a golden file may hold")
    return data


def _decode(path: Path, data: bytes, what: str, kind: Any) -> Any:
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        _check_utf8(path, data)  # msgspec >= 0.23 reports bad UTF-8 as a DecodeError
        raise GoldenError(f"{path}: not a valid memfix {what}: {_short(str(exc))}") from None
    except UnicodeDecodeError as exc:
        raise GoldenError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise GoldenError(f"{path}: JSON nested too deeply to be a memfix {what}") from None


def _check_utf8(path: Path, data: bytes) -> None:
    """A one-line GoldenError naming the first byte that is not UTF-8, if any."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GoldenError(f"{path}: not valid UTF-8 (byte {exc.start})") from None


def read_json(path: Path, what: str, limit: int = MAX_SMALL_BYTES) -> Any:
    """Any JSON value from a bounded plain file (``schema.json``)."""
    return _decode(path, read_bytes_bounded(path, limit), what, Any)


def read_versioned(
    path: Path, kind: type[T], what: str, expected_format: str, limit: int = MAX_SMALL_BYTES
) -> T:
    """Read ``path`` as ``kind``; a one-line GoldenError naming the file otherwise.

    ``what`` names the file in errors ("dump", "manifest"); the file's own
    ``format`` marker must equal ``expected_format`` so that a change of file
    format is reported as such, never as a confusing diff.
    """
    value: T = _decode(path, read_bytes_bounded(path, limit), what, kind)
    if value.format != expected_format:
        raise GoldenError(
            f"{path}: {what} format {_short(repr(value.format))}, "
            f"this memfix reads {expected_format!r}"
        )
    return value


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
