"""Errors raised by :mod:`memfix.servers`.

Every message is one line that names the thing at fault (the dump file, the server
id, the URL), so that a CLI can print it as is and a test failure explains itself.
"""

from __future__ import annotations

from memfix.errors import MemfixError

__all__ = [
    "DatabaseNotEmpty",
    "DumpTooNewError",
    "ServerError",
    "ServerNotFound",
    "ServerStartError",
]


class ServerError(MemfixError):
    """Base class: anything that went wrong finding, starting or driving a server.

    A :class:`MemfixError`, so the CLI and the pytest plugin print it as one line.
    """


class ServerNotFound(ServerError):
    """No server matches the request (the message lists what is available)."""


class ServerStartError(ServerError):
    """A server process or container did not become ready (the message ends with its log tail)."""


class DumpTooNewError(ServerError):
    """The dump was written by a newer RDB version than the server can load.

    Raised before anything is started: an older server exits at load time with
    ``Can't handle RDB format version``; failing early gives a clearer message.
    """


class DatabaseNotEmpty(ServerError):
    """An existing (user-run) server's database holds keys and writing was not allowed."""
