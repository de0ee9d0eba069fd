"""Foreign shapes: memfix's own wire format as other writers produce it, on real servers.

memfix's readers must load every shape unchanged: the expectation comes from the
foreign writers' own data, not from memfix's readers, and the whole view is
committed as a snapshot (``__snapshots__/test_foreign/foreign-shapes.json``).
memfix's current writer must round-trip the same messages exactly (no
normalising, stripping or truncating on write).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from syrupy.assertion import SnapshotAssertion

from memfix.formats.foreign import FOREIGN_SHAPES, SHAPES, expected_view, write_foreign_scenario
from memfix.goldens import golden_view
from memfix.goldens.meaning import session_differences
from memfix.model import Message
from memfix.servers import Server
from memfix.snapshot import GoldenSnapshotExtension
from memfix.store import KeyLayout, RedisMemoryStore

# The snapshot is named after the golden set, not the test (as the plugin's are).
pytestmark = pytest.mark.filterwarnings("ignore:(?s).*Can not relate snapshot name:UserWarning")


def read_foreign(server: Server) -> dict[str, Any]:
    write_foreign_scenario(server.client)
    return golden_view(server.client)


def test_the_shapes_cover_what_real_writers_produce() -> None:
    raws = {s.session: s for s in SHAPES}
    assert len(SHAPES) >= 12 and len(raws) == len(SHAPES)
    contents = [m.content for s in SHAPES for m in s.messages]
    assert any(len(c) > 64 * 1024 for c in contents)
    assert any(c != c.strip() for c in contents)
    assert any(isinstance(m.timestamp, int) for s in SHAPES for m in s.messages)
    assert any(not s.session.isascii() for s in SHAPES)
    assert any("{" in s.session for s in SHAPES)


def test_memfix_reads_every_foreign_shape_unchanged(
    server: Server, snapshot: SnapshotAssertion
) -> None:
    view = read_foreign(server)
    lines = session_differences(expected_view(), view["sessions"], theirs="the foreign writer")
    assert lines == [], "\n".join(lines)
    assert view == snapshot.use_extension(GoldenSnapshotExtension)(name="foreign-shapes")


def test_the_foreign_shapes_format_reads_what_it_writes(server: Server) -> None:
    FOREIGN_SHAPES.write_scenario(server.client, "1.0")
    assert FOREIGN_SHAPES.read_sessions(server.client) == expected_view()


def test_memfix_writer_round_trips_every_foreign_shape(server: Server) -> None:
    """Write-side: no normalising, stripping or truncating of what an app hands in."""
    store = RedisMemoryStore(server.client)
    for shape in SHAPES:
        store.append_messages(
            shape.session,
            [
                Message(m.role, m.content, m.timestamp, m.metadata, m.id)  # type: ignore[arg-type]
                for m in shape.messages
            ],
        )
    sessions = {
        s.session: msgspec.to_builtins(store.get_history(s.session, limit=None)) for s in SHAPES
    }
    lines = session_differences(expected_view(), sessions, theirs="what the app handed in")
    assert lines == [], "\n".join(lines)


def test_a_reader_that_mishandles_a_foreign_shape_fails(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A "simpler" session_of that splits keys on ':' loses hash-tagged ids."""

    def naive(self: KeyLayout, key: str) -> str | None:
        parts = key.split(":")
        return parts[1] if len(parts) == 3 and parts[0] == "session" else None

    monkeypatch.setattr(KeyLayout, "session_of", naive)
    view = read_foreign(server)
    lines = session_differences(expected_view(), view["sessions"], theirs="the foreign writer")
    assert lines == ["session '{user:42}:chat' is gone (the foreign writer has 1 messages)"]
