"""Where a session's data lives in the Redis keyspace.

The layout is part of the released wire format (the seed article's
``session:{session_id}:messages``): changing it makes old data invisible,
which the goldens catch.
"""

from __future__ import annotations

__all__ = ["KeyLayout"]  # RecentKeys: the stores' memo, not public API


class KeyLayout:
    """Maps session ids to keys and back."""

    def __init__(self, prefix: str = "session", suffix: str = "messages") -> None:
        self._head = f"{prefix}:"
        self._tail = f":{suffix}"

    def messages(self, session_id: str) -> str:
        """The list key holding the session's records.

        A function of the session id alone: stores remember its answers
        (:class:`RecentKeys`), so a subclass that overrides it must not depend on
        anything else.
        """
        if type(session_id) is not str and not isinstance(session_id, str):
            raise TypeError(f"session id must be a str, got {session_id!r}")
        return f"{self._head}{session_id}{self._tail}"

    @property
    def pattern(self) -> str:
        """A SCAN MATCH pattern for every messages key."""
        return f"{_glob_escape(self._head)}*{_glob_escape(self._tail)}"

    def session_of(self, key: str) -> str | None:
        """The session id a messages key belongs to, ``None`` for other keys."""
        if key.startswith(self._head) and key.endswith(self._tail):
            return key[len(self._head) : len(key) - len(self._tail)]
        return None

    def companion(self, session_id: str, name: str) -> str:
        """A further per-session key in the same Redis Cluster hash slot.

        Redis hashes only the part inside the first ``{...}`` when there is
        one, so wrapping the messages key in braces pins the companion to the
        messages key's slot, and multi-key scripts of one session stay legal
        on a cluster. When the session id itself holds a hash tag, the
        companion reuses that tag and ends with the full messages key, so two
        sessions sharing a tag never share a companion.
        """
        key = self.messages(session_id)
        tag = _hash_tag(key)
        if tag != key:
            return f"{{{tag}}}:{name}:{key}"
        if "}" in key:
            raise ValueError(
                f"session id {session_id!r}: a '}}' without a complete '{{...}}' hash tag "
                "cannot be kept in one cluster slot with its companion keys"
            )
        return f"{{{key}}}:{name}"


class RecentKeys(dict[str, str]):
    """``layout.messages(session_id)`` of the sessions used lately, by subscript.

    The append path needs the key on every call, and building it costs the
    client more than anything memfix does per append but checking the message
    (a method call and an f-string, ~1.3k instructions; a hit here ~0.5k). At
    most ``size`` ids are kept with their keys (a count, not bytes: ids are
    expected to be short); then it starts over. Only a plain ``str`` may be
    looked up: a str subclass equal to a remembered id may format otherwise (an
    ``Enum`` member prints its name), so callers send it to ``layout.messages``.
    """

    def __init__(self, layout: KeyLayout, size: int = 4096) -> None:
        super().__init__()
        self.layout = layout
        self.size = size

    def __missing__(self, session_id: str) -> str:
        key = self.layout.messages(session_id)
        if len(self) >= self.size:
            self.clear()
        self[session_id] = key
        return key


def _hash_tag(key: str) -> str:
    """The substring Redis Cluster hashes for ``key``."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
