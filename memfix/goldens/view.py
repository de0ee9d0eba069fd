"""What a keyspace means to the *current* code: the thing snapshots compare.

The view is deterministic JSON a reviewer can read: the keyspace layout (key,
type, size, whether it expires) and every session decoded through the current
``RedisMemoryStore`` into current ``Message`` objects. When a PR changes how
old data loads, this is what changes in the PR's snapshot diff.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import msgspec
import redis

from memfix.goldens.dump import KeyspaceDump, StringEntry, dump_keyspace, key_text
from memfix.store import KeyLayout, RedisMemoryStore

__all__ = ["VIEW_FORMAT", "encode_view", "golden_view", "layout_of", "render_session"]

VIEW_FORMAT = "memfix-view/1"


def layout_of(dump: KeyspaceDump) -> dict[str, str]:
    """``{key: "list[12], expires"}`` for every key, in dump order."""
    out: dict[str, str] = {}
    for e in dump.keys:
        key = key_text(e.key)
        size = "" if isinstance(e, StringEntry) else f"[{len(e.value)}]"
        kind = e.__struct_config__.tag
        out[key] = f"{kind}{size}" + (", expires" if e.ttl is not None else "")
    return out


def golden_view(
    client: redis.Redis, *, dump: KeyspaceDump | None = None, keys: KeyLayout | None = None
) -> dict[str, Any]:
    """Layout plus decoded sessions of the database ``client`` points at.

    Raises :class:`memfix.SchemaError` (naming key, index and raw bytes) when
    the current code cannot decode a stored record.
    """
    dump = dump if dump is not None else dump_keyspace(client)
    store = RedisMemoryStore(client, keys=keys)
    sessions = {
        sid: msgspec.to_builtins(store.get_history(sid, limit=None)) for sid in store.sessions()
    }
    return {"format": VIEW_FORMAT, "keyspace": layout_of(dump), "sessions": sessions}


def encode_view(view: dict[str, Any]) -> str:
    """Canonical text of a view: sorted keys, one field per line."""
    raw = msgspec.json.encode(view, order="sorted")
    return msgspec.json.format(raw, indent=2).decode("utf-8") + "\n"


def render_session(session_id: str, messages: list[dict[str, Any]], *, width: int = 100) -> str:
    """Human-readable lines for one decoded session (used by ``memfix show``)."""
    lines = [f"== {session_id} ({len(messages)} messages)"]
    for i, m in enumerate(messages):
        content = " ".join(str(m.get("content", "")).split())
        if len(content) > width:
            content = content[: width - 1] + "…"
        extras = {k: v for k, v in m.items() if k not in ("role", "content", "timestamp", "id")}
        extra = f"  {msgspec.json.encode(extras).decode()}" if extras else ""
        when = _when(m.get("timestamp"))
        lines.append(f"{i:>4}  {when}  {m.get('role', '?'):<9} {content}{extra}")
    return "\n".join(lines)


def _when(timestamp: object) -> str:
    if isinstance(timestamp, (int, float)):
        moment = datetime.fromtimestamp(timestamp, timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(timestamp)
