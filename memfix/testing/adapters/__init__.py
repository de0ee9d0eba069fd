"""``MemoryStore`` adapters for other libraries' Redis chat stores, so ``memfix.testing``
runs against the store you actually use.

Each module needs its library (``pip install 'memfix[peers]'``) and says so
in one ``ImportError`` when it is missing. An adapter uses the library's
public API only, and compacts the way that library's users (and its own
memory classes) do. It declares the :class:`~memfix.testing.Capabilities`
users of the library rely on (a turn stored whole, compaction that keeps
what arrived meanwhile), so the contract checks them; docs/peers.md lists
what it found.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["missing_extra", "with_timeouts"]


def missing_extra(module: str, exc: ImportError) -> ImportError:
    """The one-line error for an adapter whose library is not installed."""
    return ImportError(
        f"{module} needs {exc.name or 'its library'}, which is not installed: "
        "pip install 'memfix[peers]'"
    )


def with_timeouts(url: str, seconds: float = 10.0) -> str:
    """``url`` with socket timeouts, unless it sets its own: a writer whose server
    was killed must fail, not hang (the libraries build clients from URLs)."""
    parts = urlsplit(url)
    if parts.query:
        return url
    query = f"socket_timeout={seconds}&socket_connect_timeout={seconds}"
    return urlunsplit(parts._replace(query=query))
