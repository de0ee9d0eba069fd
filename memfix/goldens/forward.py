"""The forward check (rollback safety): can the previous release read what this code writes?

During a rolling deploy, and after a rollback, release N reads records that
release N+1 wrote. For memfix's own format the previous release's reader is
still here, frozen: its modules up to N (:func:`memfix.schemas.decode_as`).
For each golden that release N could have found in Redis (versions up to N),
this restores it into a fresh server, re-appends every message it holds
through the *current* writer (pinned with ``write_version`` or not), and
decodes every record of the server as release N would.

Unpinned, exactly the records the current writer added fail (their version
is new to N); with ``write_version`` pinned to N, everything reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from memfix import schemas
from memfix.errors import GoldenError, SchemaError
from memfix.goldens.golden import Golden
from memfix.goldens.restore import RestoreMode, restored_server
from memfix.servers import ServerSpec
from memfix.store import RedisMemoryStore

__all__ = ["FORWARD_PREFIX", "ForwardRow", "forward_check"]

#: Sessions the check writes: ``forward:<original session id>``.
FORWARD_PREFIX = "forward:"


@dataclass(frozen=True)
class ForwardRow:
    """One golden: what the previous release (``reader``) makes of the data."""

    golden: str
    reader: str
    writer: str
    records: int  # every record in the server afterwards
    written: int  # of which the current writer appended
    unreadable: dict[str, int] = field(default_factory=dict)  # by record version
    first: str = ""  # the first unreadable record: key, index, reason

    @property
    def failed(self) -> bool:
        return bool(self.unreadable)

    @property
    def status(self) -> str:
        return "FAIL" if self.failed else "ok"

    @property
    def detail(self) -> str:
        if not self.failed:
            return f"release {self.reader} reads all {self.records} records"
        n = sum(self.unreadable.values())
        by = ", ".join(f"{v}: {c}" for v, c in self.unreadable.items())
        return f"release {self.reader} cannot read {n} record(s) ({by}); first: {self.first}"


def forward_check(
    goldens: Sequence[Golden],
    spec: ServerSpec,
    *,
    write_version: str | None = None,
    reader: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ForwardRow]:
    """One row per golden whose version ``reader`` (default: the previous release) knows."""
    say = progress or (lambda _: None)
    chain = list(schemas.RELEASED)
    if reader is None:
        if len(chain) < 2:
            raise GoldenError("forward check: there is no previous release to roll back to")
        reader = chain[-2]
    if reader not in schemas.RELEASED:
        raise GoldenError(f"forward check: {reader} is not a released schema version")
    usable = [g for g in goldens if g.version <= reader]
    if not usable:
        have = ", ".join(g.version for g in goldens) or "none"
        raise GoldenError(
            f"forward check: no golden release {reader} could have read (have: {have})"
        )
    writer = write_version or schemas.CURRENT_VERSION
    try:
        schemas.message_encoder(write_version)
    except ValueError as exc:
        raise GoldenError(f"forward check: {exc}") from None
    rows = []
    for golden in usable:
        say(f"forward check: golden {golden.version}, written as {writer}, read as {reader}")
        with restored_server(golden, spec, RestoreMode.JSON) as server:
            store = RedisMemoryStore(server.client, write_version=write_version)
            written = 0
            for sid in store.sessions():
                messages = store.get_history(sid, limit=None)
                try:
                    store.append_messages(FORWARD_PREFIX + sid, messages)
                except ValueError as exc:  # the pinned version cannot hold a message
                    raise GoldenError(f"forward check, golden {golden.version}: {exc}") from None
                written += len(messages)
            records = 0
            unreadable: dict[str, int] = {}
            first = ""
            for sid in store.sessions():
                key = store.keys.messages(sid)
                raws = cast(list[bytes], server.client.lrange(key, 0, -1))  # bytes client
                for i, raw in enumerate(raws):
                    records += 1
                    try:
                        schemas.decode_as(raw, reader)
                    except SchemaError as exc:
                        version = exc.version or "unknown"
                        unreadable[version] = unreadable.get(version, 0) + 1
                        first = first or str(exc.located(key, i))
        rows.append(ForwardRow(golden.version, reader, writer, records, written, unreadable, first))
    return rows
