"""The current in-memory message model.

``Message`` is what application code builds and what ``get_history`` returns,
whatever schema version a record was stored with. Its wire representation is
owned by the schema modules in :mod:`memfix.schemas`; this class may change
between releases, the released wire formats may not.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

import msgspec

__all__ = ["Message", "Role", "ToolCall"]

#: Who speaks: ``tool`` messages answer an assistant's ``tool_calls`` (schema 1.3).
Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """A tool invocation an assistant message asks for (OpenAI-style).

    Not tracked by the garbage collector, like :class:`Message` (see there).
    """

    id: str
    name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)


class Message(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One chat message.

    ``timestamp`` is epoch seconds (a float, as the seed article stored it),
    defaulting to now; schema 1.6 stores it as it is (1.2-1.5 stored integer
    milliseconds), so a message reads back equal to the one appended. ``metadata``
    holds whatever JSON-compatible facts the application attaches (model
    name, token counts, ...). ``id`` is generated when the message is built,
    so retrying the append of the same message does not store it twice;
    messages stored before schema 1.2 have ``id=None``.

    Tool use (schema 1.3): an ``assistant`` message may carry ``tool_calls``;
    each answer is a ``tool`` message with the tool's ``name`` and the
    ``tool_call_id`` it answers.

    Messages are not tracked by Python's cycle collector (msgspec's
    ``gc=False``): ``get_history`` builds thousands of them, and tracking each
    made building them ~15 % dearer and every collection slower. A message
    read back holds only JSON values (str, int, float, bool, None, list, dict),
    which cannot refer back to it, so no cycle can form. The caveat: a cycle
    *through* a message is never collected. Do not store a message (or an
    object that refers to it) inside its own ``metadata`` or tool-call
    ``arguments``; such a message would never be freed.
    """

    role: Role
    content: str
    timestamp: float = msgspec.field(default_factory=time.time)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    id: str | None = msgspec.field(default_factory=lambda: uuid.uuid4().hex)
    name: str | None = None
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)
    tool_call_id: str | None = None
