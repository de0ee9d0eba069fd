"""The format protocol: one kind of stored chat memory, as the golden loop sees it.

A format says which keys it owns, how the project's *current* code writes a
release's deterministic scenario, and how the project's *current* code reads
everything back into a JSON-able view. That is all memfix needs to record,
restore, verify and snapshot goldens of any store: memfix's own store is the
built-in format ``memfix``, implemented on this protocol like any user's.

Optional members (looked up with the helpers below, so a format can omit them):

- ``record_version(raw: bytes) -> str | None``: the version a stored record
  claims; the manifest counts records by it, and verify re-counts them.
- ``json_schema() -> dict | None``: committed as ``schema.json`` when present.
- ``fingerprint(version) -> str | None``: a hash of the frozen code of a
  released version (memfix pins its schema modules with it).
- ``byte_stable: bool``: the writer's bytes are deterministic (write-side
  goldens may compare raw records, not only views).
- ``reads_cluster: bool``: ``read_sessions`` works on a ``redis.cluster.RedisCluster``
  client (every key of a session in one slot, every master walked); golden
  cases on a cluster run only for such formats, and are skipped saying so
  for the others.
- ``writer: str``: who writes the scenario, as write-side reports name it
  (default "the current writer"; a set of fixed foreign writers says so).
- ``package_versions() -> dict[str, str]``: exact versions of the
  distributions whose code writes the data (a framework's store); the
  manifest records them, since the library's release *is* the format version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import redis

from memfix.version import Version

__all__ = [
    "SCENARIO_TTL",
    "Format",
    "byte_stable",
    "fingerprint_of",
    "json_schema_of",
    "key_matcher",
    "package_versions_of",
    "reads_cluster",
    "record_version_of",
    "writer_of",
]

#: The TTL, in whole seconds (and whole minutes, so dumps stay deterministic), that a
#: scenario gives the sessions it lets expire. An RDB file stores *absolute* expiry
#: times, so a shorter TTL makes a golden's ``dump.rdb`` restore without the key once
#: it passes; ``memfix record`` refuses anything under
#: :data:`memfix.goldens.dump.MIN_GOLDEN_TTL` (100 years). 200 years, an int, because
#: library stores (langchain, llama-index) take their TTL in seconds.
SCENARIO_TTL = 200 * 365 * 86_400


@runtime_checkable
class Format(Protocol):
    """One kind of stored chat memory (see the module docstring)."""

    # Read-only members, so a class attribute, an instance attribute or a
    # property all satisfy the protocol.

    @property
    def name(self) -> str:
        """ "memfix", "langchain", or a project's own name; it appears in manifests."""
        ...

    @property
    def current_version(self) -> str:
        """``MAJOR.MINOR``: the version of the data the current code writes."""
        ...

    @property
    def key_patterns(self) -> tuple[str, ...]:
        """Redis glob patterns of every key the format owns, companion keys too."""
        ...

    def write_scenario(self, client: redis.Redis, version: Version) -> None:
        """Write the release's deterministic scenario (fixed clock, seeded ids) through
        the project's *current* write code into ``client``'s database (empty, or
        holding the previous golden)."""
        ...

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        """Read every session the format owns through the project's *current* read code
        into JSON-able builtins. Anything undecodable raises
        :class:`memfix.errors.FormatError` naming the key (and index)."""
        ...


def record_version_of(fmt: Format) -> Callable[[bytes], str | None] | None:
    hook = getattr(fmt, "record_version", None)
    return hook if callable(hook) else None


def json_schema_of(fmt: Format) -> dict[str, Any] | None:
    hook = getattr(fmt, "json_schema", None)
    if not callable(hook):
        return None
    schema = hook()
    return schema if isinstance(schema, dict) else None


def fingerprint_of(fmt: Format, version: Version) -> str | None:
    hook = getattr(fmt, "fingerprint", None)
    if not callable(hook):
        return None
    value = hook(version)
    return value if isinstance(value, str) else None


def package_versions_of(fmt: Format) -> dict[str, str] | None:
    hook = getattr(fmt, "package_versions", None)
    if not callable(hook):
        return None
    value = hook()
    return dict(value) if isinstance(value, dict) and value else None


def byte_stable(fmt: Format) -> bool:
    return bool(getattr(fmt, "byte_stable", False))


def reads_cluster(fmt: Format) -> bool:
    return bool(getattr(fmt, "reads_cluster", False))


def writer_of(fmt: Format) -> str:
    value = getattr(fmt, "writer", None)
    return value if isinstance(value, str) and value else "the current writer"


def key_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate: does a key match any of these Redis glob patterns (``*``, ``?``,
    ``[a-z]``, ``[^x]``, ``\\`` escapes), with Redis's own semantics."""
    regex = _compile(tuple(patterns))
    return lambda key: regex.fullmatch(key) is not None


@lru_cache(maxsize=64)
def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{_glob_to_regex(p)})" for p in patterns) or "(?!)", re.DOTALL)


def _glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("^")
                body = body[1:] if negate else body
                chars = "".join("\\" + ch if ch in "\\^]" else ch for ch in body)
                out.append(f"[{'^' if negate else ''}{chars}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
