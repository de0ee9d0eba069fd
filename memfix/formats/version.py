"""``Version``: a golden's ``MAJOR.MINOR``, parsed once where it enters memfix.

Why a type and not a string: a version arrives from a command line, a directory
name, a manifest and a format's own declaration; parsing it once at that edge
(ASCII digits only, no leading zeros, nothing around it) means ``1.0\\n``,
``01.2`` or Arabic-Indic digits never become a golden, and ``1.10`` sorts after ``1.9``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memfix.errors import GoldenError

__all__ = ["Version"]

_VERSION = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})", re.ASCII)


@dataclass(frozen=True, order=True)
class Version:
    """An ASCII ``MAJOR.MINOR`` version; ordered numerically."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: object, *, where: str = "") -> Version:
        """``"1.4"`` -> ``Version(1, 4)``; a one-line GoldenError (after ``where``) otherwise."""
        if isinstance(text, Version):
            return text
        match = _VERSION.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            shown = repr(text)
            if len(shown) > 40:
                shown = shown[:37] + "..."
            prefix = f"{where}: " if where else ""
            raise GoldenError(
                f"{prefix}{shown} is not a version (expected ASCII MAJOR.MINOR "
                "without leading zeros, e.g. 1.4)"
            )
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def looks_like(cls, text: str) -> bool:
        """Whether ``text`` was probably meant as a version (digits and a dot), valid or not."""
        return bool(re.search(r"\d+\s*\.\s*\d+", text))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"
