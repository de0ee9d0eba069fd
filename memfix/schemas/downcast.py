"""Writing an older released version: the downcast path behind ``write_version``.

A two-phase release ships the new reader first and keeps writing the previous
version until every process reads the new one. Writing version N-1 from code
whose model is N means downcasting each current Record step by step. Released
modules are frozen and only know how to *up*cast, so the downcasts live here.

Steps are written field by field only where the wire form changed (1.6 -> 1.5:
role numbers, integer milliseconds and array-like tool calls; 1.4 -> 1.3: role
names and nested tool calls; 1.2 -> 1.1: seconds instead of milliseconds);
every other step copies the fields both Records share by name, which is all a
``memfix schema new`` release adding optional fields needs. Whatever a step
drops or mangles is caught by :func:`lost_fields`, not trusted to the step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from memfix.schemas import RELEASED, v1_1, v1_2, v1_3, v1_4, v1_5, v1_6

__all__ = ["downcaster", "lost_fields"]

Step = Callable[[Any], Any]


def _v1_6_to_v1_5(r: v1_6.Record) -> v1_5.Record:
    return v1_5.Record(
        id=r.id,
        role=v1_5.Role[r.role],
        content=r.content,
        ts_ms=round(r.timestamp * 1000),  # 1.5 stores milliseconds, as 1.5's writer rounded
        metadata=r.metadata,
        name=r.name,
        tool_calls=[v1_5.ToolCall(c.id, c.name, c.arguments) for c in r.tool_calls],
        tool_call_id=r.tool_call_id,
    )


def _v1_4_to_v1_3(r: v1_4.Record) -> v1_3.Record:
    return v1_3.Record(
        id=r.id,
        role=r.role.name,  # type: ignore[arg-type]  # Role names are the 1.3 literals
        content=r.content,
        ts_ms=r.ts_ms,
        metadata=r.metadata,
        name=r.name,
        tool_calls=[v1_3.ToolCall(c.id, c.name, c.arguments) for c in r.tool_calls],
        tool_call_id=r.tool_call_id,
    )


def _v1_2_to_v1_1(r: v1_2.Record) -> v1_1.Record:
    return v1_1.Record(
        role=r.role, content=r.content, timestamp=r.ts_ms / 1000, metadata=r.metadata
    )


#: Hand-written steps, keyed by the version they start from.
_STEPS: dict[str, Step] = {"1.6": _v1_6_to_v1_5, "1.4": _v1_4_to_v1_3, "1.2": _v1_2_to_v1_1}


def _by_name(target: type[msgspec.Struct]) -> Step:
    """Copy the fields ``target`` declares from a newer Record that has them."""
    fields = target.__struct_fields__

    def step(r: Any) -> Any:
        return target(**{f: getattr(r, f) for f in fields if hasattr(r, f)})

    return step


def downcaster(source: str, target: str) -> Step:
    """Record of ``source`` -> Record of ``target`` (an older version), unchecked."""
    chain = list(RELEASED)
    hi, lo = chain.index(source), chain.index(target)
    if lo > hi:
        raise ValueError(f"{target} is newer than {source}: nothing to downcast")
    steps = [
        _STEPS.get(chain[i]) or _by_name(RELEASED[chain[i - 1]].Record) for i in range(hi, lo, -1)
    ]

    def down(record: Any) -> Any:
        for step in steps:
            try:
                record = step(record)
            except TypeError as exc:  # a required field the newer Record cannot supply
                raise ValueError(f"cannot be written as {target}: {exc}") from None
        return record

    return down


def lost_fields(
    original: msgspec.Struct, back: msgspec.Struct, *, milliseconds: bool = False
) -> list[str]:
    """Fields where ``back`` (written old, read back and upcast) differs from ``original``.

    ``milliseconds``: the old version stores time in integer milliseconds (1.2-1.5),
    so its writer always rounded to them and a reader of it has no more: a timestamp
    is then compared to the millisecond. Any other difference is a lost field.
    """
    return [
        f
        for f in original.__struct_fields__
        if getattr(original, f) != getattr(back, f, msgspec.UNSET)
        and not (
            milliseconds
            and f == "timestamp"
            and _same_millisecond(getattr(original, f), getattr(back, f, None))
        )
    ]


def _same_millisecond(a: object, b: object) -> bool:
    try:
        return round(a * 1000) == round(b * 1000)  # type: ignore[operator]
    except (TypeError, ValueError, OverflowError):
        return False
