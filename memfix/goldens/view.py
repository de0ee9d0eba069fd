"""What a keyspace means to the *current* code: the thing snapshots compare.

The view is deterministic JSON a reviewer can read: the keyspace layout (key,
type, size, whether it expires) and every session the format's current read
code decodes. When a PR changes how old data loads, this is what changes in
the PR's snapshot diff.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import msgspec
import redis

from memfix.errors import FormatError
from memfix.formats import Format
from memfix.goldens.dump import KeyspaceDump, StringEntry, dump_keyspace, key_text

__all__ = [
    "VIEW_FORMAT",
    "GoldenView",
    "encode_view",
    "encode_view_bytes",
    "golden_view",
    "layout_of",
    "render_session",
]

VIEW_FORMAT = "memfix-view/1"


class GoldenView(msgspec.Struct, frozen=True):
    """The keyspace layout and the decoded sessions of one restored golden."""

    keyspace: dict[str, str]
    sessions: dict[str, list[Any]]
    format: str = VIEW_FORMAT

    @property
    def messages(self) -> int:
        return sum(len(m) for m in self.sessions.values())

    def to_builtins(self) -> dict[str, Any]:
        """The plain dict snapshots hold (``format``, ``keyspace``, ``sessions``)."""
        return {"format": self.format, "keyspace": self.keyspace, "sessions": self.sessions}


def layout_of(dump: KeyspaceDump) -> dict[str, str]:
    """``{key: "list[12], expires"}`` for every key, in dump order."""
    out: dict[str, str] = {}
    for e in dump.keys:
        key = key_text(e.key)
        size = "" if isinstance(e, StringEntry) else f"[{len(e.value)}]"
        kind = e.__struct_config__.tag
        out[key] = f"{kind}{size}" + (", expires" if e.ttl is not None else "")
    return out


def build_view(fmt: Format, client: redis.Redis, dump: KeyspaceDump) -> GoldenView:
    """The view of the database ``client`` points at, whose keyspace ``dump`` already holds.

    Anything the format's read code raises becomes a one-line FormatError (a
    project's loader may raise KeyError or JSONDecodeError on data it no
    longer understands: that is a failed golden, not a crash).
    """
    try:
        sessions = fmt.read_sessions(client)
    except FormatError:
        raise
    except RecursionError:
        raise FormatError(f"format {fmt.name!r}: a stored value is nested too deeply") from None
    except Exception as exc:
        text = " ".join(str(exc).split())
        text = text if len(text) <= 300 else text[:297] + "..."
        raise FormatError(
            f"format {fmt.name!r}: read_sessions raised {type(exc).__name__}: {text}"
        ) from None
    if not isinstance(sessions, dict) or not all(
        isinstance(k, str) and isinstance(v, list) for k, v in sessions.items()
    ):
        raise FormatError(
            f"format {fmt.name!r}: read_sessions must return dict[str, list], "
            f"got {type(sessions).__name__}"
        )
    try:  # the view must be JSON-able, or the snapshot cannot hold it
        plain = msgspec.json.decode(msgspec.json.encode(sessions))
    except (TypeError, msgspec.EncodeError) as exc:
        raise FormatError(
            f"format {fmt.name!r}: read_sessions returned a non-JSON value: {exc}"
        ) from None
    return GoldenView(keyspace=layout_of(dump), sessions=plain)


def golden_view(
    client: redis.Redis, *, dump: KeyspaceDump | None = None, fmt: Format | None = None
) -> dict[str, Any]:
    """Layout plus decoded sessions of the database ``client`` points at (a dict).

    Raises :class:`memfix.errors.FormatError` (e.g. a SchemaError naming key,
    index and raw bytes) when the current code cannot decode a stored record.
    """
    if fmt is None:
        from memfix.formats import resolve_format

        fmt = resolve_format("memfix")
    dump = dump if dump is not None else dump_keyspace(client)
    return build_view(fmt, client, dump).to_builtins()


def encode_view(view: dict[str, Any]) -> str:
    """Canonical text of a view: sorted keys, one field per line."""
    return encode_view_bytes(view).decode("utf-8")


def encode_view_bytes(view: dict[str, Any]) -> bytes:
    """:func:`encode_view` as the UTF-8 bytes of the snapshot file: what snapshots
    compare (a large view decodes to ``str`` in milliseconds; comparing bytes does not)."""
    return msgspec.json.format(msgspec.json.encode(view, order="sorted"), indent=2) + b"\n"


def render_session(session_id: str, messages: list[Any], *, width: int = 100) -> str:
    """Human-readable lines for one decoded session (used by ``memfix show``)."""
    shown = (
        session_id if len(session_id) <= 200 else f"{session_id[:200]}... ({len(session_id)} chars)"
    )
    lines = [f"== {shown} ({len(messages)} messages)"]
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            text = msgspec.json.encode(m).decode()
            lines.append(f"{i:>4}  {text[:width]}")
            continue
        content = " ".join(str(m.get("content", "")).split())
        if len(content) > width:
            content = content[: width - 1] + "…"
        extras = {k: v for k, v in m.items() if k not in ("role", "content", "timestamp", "id")}
        extra = f"  {msgspec.json.encode(extras).decode()}" if extras else ""
        when = _when(m.get("timestamp"))
        lines.append(f"{i:>4}  {when}  {m.get('role', '?')!s:<9} {content}{extra}")
    return "\n".join(lines)


def _when(timestamp: object) -> str:
    if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
        try:
            moment = datetime.fromtimestamp(timestamp, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return str(timestamp)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(timestamp)
