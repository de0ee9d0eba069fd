"""``Version``: a ``MAJOR.MINOR`` (schema, format or golden), parsed once where it enters memfix.

Why a type and not a string: a version arrives from a command line, a directory
name, a manifest and a format's own declaration; parsing it once at that edge
(ASCII digits only, no leading zeros, nothing around it) means ``1.0\\n``,
``01.2`` or Arabic-Indic digits never become a golden, and ``1.10`` sorts after ``1.9``.
"""

from __future__ import annotations

import re

from memfix.errors import VersionError

__all__ = ["Version"]

_VERSION = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})", re.ASCII)


class Version(str):
    """An ASCII ``MAJOR.MINOR`` version; ordered numerically.

    A ``str`` (``Version.parse("1.4") == "1.4"``), so it prints, serialises and
    keys dictionaries as the text it came from, but only valid text becomes one.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> Version:
        if _VERSION.fullmatch(text) is None:
            raise VersionError(f"{text!r} is not a version")
        return super().__new__(cls, text)

    @classmethod
    def parse(cls, text: object, *, where: str = "") -> Version:
        """``"1.4"`` -> ``Version("1.4")``; a one-line VersionError (after ``where``) otherwise."""
        if isinstance(text, Version):
            return text
        match = _VERSION.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            shown = repr(text)
            if len(shown) > 40:
                shown = shown[:37] + "..."
            prefix = f"{where}: " if where else ""
            raise VersionError(
                f"{prefix}{shown} is not a version (expected ASCII MAJOR.MINOR "
                "without leading zeros, e.g. 1.4)"
            )
        return cls(str(text))

    @classmethod
    def looks_like(cls, text: str) -> bool:
        """Whether ``text`` was probably meant as a version (digits and a dot), valid or not."""
        return bool(re.search(r"\d+\s*\.\s*\d+", text))

    @property
    def major(self) -> int:
        return int(self.split(".")[0])

    @property
    def minor(self) -> int:
        return int(self.split(".")[1])

    @property
    def key(self) -> tuple[int, int]:
        return self.major, self.minor

    def _other(self, other: object) -> tuple[int, int]:
        return Version.parse(other).key

    def __lt__(self, other: object) -> bool:
        return self.key < self._other(other)

    def __le__(self, other: object) -> bool:
        return self.key <= self._other(other)

    def __gt__(self, other: object) -> bool:
        return self.key > self._other(other)

    def __ge__(self, other: object) -> bool:
        return self.key >= self._other(other)

    def __repr__(self) -> str:
        return f"Version({str(self)!r})"
