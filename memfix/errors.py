"""The errors memfix raises on purpose.

Every error here renders as one line that names the file, key or version at
fault, so the CLI can print ``str(exc)`` and exit non-zero with no traceback.
"""

from __future__ import annotations

__all__ = [
    "CompactionConflict",
    "ConfigError",
    "FormatError",
    "GoldenError",
    "MemfixError",
    "MissingDependency",
    "ReleaseError",
    "SchemaError",
    "TargetNotEmpty",
    "VersionError",
]

_EXCERPT_BYTES = 80


class MemfixError(Exception):
    """Base class of every error memfix raises deliberately."""


def excerpt(raw: bytes, limit: int = _EXCERPT_BYTES) -> str:
    """A short, printable, unambiguous rendering of a stored value."""
    text = repr(raw[:limit])
    return text + (f"... ({len(raw)} bytes)" if len(raw) > limit else "")


class FormatError(MemfixError):
    """A stored value that a format's current read code cannot turn into its view.

    Formats raise it (or a subclass) naming the key, and the index when there is
    one; a format must never skip what it cannot read, or the golden passes
    while production data is lost.
    """


class SchemaError(FormatError):
    """A stored record that no released schema version can decode.

    Carries where the record lives (``key``, ``index``), which version its
    bytes look like (``version``, ``None`` when even that is unclear), the raw
    bytes and the decoder's own complaint, because "failed to load history"
    without those is exactly the 2:30 a.m. page memfix exists to prevent.
    """

    def __init__(
        self,
        reason: str,
        raw: bytes,
        *,
        version: str | None = None,
        key: str | None = None,
        index: int | None = None,
    ) -> None:
        self.reason = reason
        self.raw = raw
        self.version = version
        self.key = key
        self.index = index
        super().__init__(self._render())

    def located(self, key: str | None, index: int) -> SchemaError:
        """The same error, now naming the Redis key and list index it came from."""
        return SchemaError(self.reason, self.raw, version=self.version, key=key, index=index)

    def _render(self) -> str:
        where = ""
        if self.key is not None:
            where = f"key {self.key!r}" + (f" index {self.index}" if self.index is not None else "")
            where += ": "
        version = self.version if self.version is not None else "unknown"
        return (
            f"{where}cannot decode record (schema version {version}): {self.reason}; "
            f"raw={excerpt(self.raw)}"
        )


class CompactionConflict(MemfixError):
    """``compact(seen=history)``: the session no longer starts with the messages that
    were read (another compaction or a window trim moved its head). Re-read and retry."""


class ConfigError(MemfixError):
    """``[tool.memfix]`` or a command-line choice that names nothing usable."""


class MissingDependency(ConfigError):
    """A format whose library is not installed here (e.g. ``memfix[formats]`` left out):
    its goldens cannot be read, so test runs skip them with this reason."""


class GoldenError(MemfixError):
    """A golden that is missing, corrupt, inconsistent, or may not be written."""


class VersionError(GoldenError, ValueError):
    """Text that is not an ASCII ``MAJOR.MINOR`` without leading zeros.

    A ``ValueError`` too, for callers validating arguments, and a GoldenError
    because it most often names a golden directory or a ``--version``.
    """


class TargetNotEmpty(MemfixError):
    """A restore was pointed at a database that already holds keys."""


class ReleaseError(MemfixError):
    """A release step that may not run: a bad or stale version, a committed golden."""
