"""Tagged messages and the invariants a history must satisfy after a run.

Every message a harness writes carries a unique tag ``<writer>.<seq>`` as its
content, and a compaction summary lists the tags it replaced, in order. So a
final history can be checked with no knowledge of how the store keeps it:
each acknowledged tag must appear exactly once (in a message or inside a
summary), and each writer's tags must appear in the order it wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from memfix.model import Message

__all__ = [
    "SUMMARY_PREFIX",
    "CheckResult",
    "check_history",
    "check_window",
    "summarize",
    "tag",
    "tags_of",
]

SUMMARY_PREFIX = "summary:"
_SAMPLE = 10


def tag(writer: str, seq: int) -> str:
    """The content of message ``seq`` of ``writer`` (unique within a run)."""
    return f"{writer}.{seq}"


def _parse(t: str) -> tuple[str, int]:
    writer, _, seq = t.rpartition(".")
    return writer, int(seq)


def summarize(head: Sequence[Message]) -> Message:
    """A summary that names every tag it replaces, so none is lost by compaction."""
    return Message("system", SUMMARY_PREFIX + " ".join(tags_of(head)), 0.0)


def tags_of(history: Iterable[Message]) -> list[str]:
    """Every tag in ``history`` in order, summaries expanded in place."""
    out: list[str] = []
    for m in history:
        if m.content.startswith(SUMMARY_PREFIX):
            out.extend(t for t in m.content[len(SUMMARY_PREFIX) :].split(" ") if t)
        elif m.content:
            out.append(m.content)
    return out


@dataclass
class CheckResult:
    """What a run's final histories say about its acknowledged writes.

    ``lost``: acknowledged but absent. ``duplicated``: present more than once.
    ``out_of_order``: a writer's tag found after one it wrote later.
    ``unacknowledged``: present but never acknowledged (in flight when a
    server died: allowed, the client just never heard back).
    ``misplaced_summaries``: a summary anywhere but at the head of its
    session, i.e. a compaction that did not put its summary in place.
    """

    acknowledged: int = 0
    present: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unacknowledged: int = 0
    misplaced_summaries: int = 0
    lost_sample: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order or self.misplaced_summaries)

    def __add__(self, other: CheckResult) -> CheckResult:
        return CheckResult(
            self.acknowledged + other.acknowledged,
            self.present + other.present,
            self.lost + other.lost,
            self.duplicated + other.duplicated,
            self.out_of_order + other.out_of_order,
            self.unacknowledged + other.unacknowledged,
            self.misplaced_summaries + other.misplaced_summaries,
            (self.lost_sample + other.lost_sample)[:_SAMPLE],
        )

    def describe(self) -> str:
        """One line, for assertion messages and reports."""
        text = (
            f"acknowledged={self.acknowledged} present={self.present} lost={self.lost} "
            f"duplicated={self.duplicated} out_of_order={self.out_of_order} "
            f"unacknowledged={self.unacknowledged} "
            f"misplaced_summaries={self.misplaced_summaries}"
        )
        if self.lost_sample:
            text += f" (lost e.g. {', '.join(self.lost_sample)})"
        return text


def _order_and_dupes(found: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    last: dict[str, int] = {}
    duplicated = out_of_order = 0
    for t in found:
        if t in seen:
            duplicated += 1
            continue
        seen.add(t)
        writer, seq = _parse(t)
        if seq < last.get(writer, -1):
            out_of_order += 1
        last[writer] = max(seq, last.get(writer, -1))
    return duplicated, out_of_order


def check_history(history: Sequence[Message], acknowledged: Iterable[str]) -> CheckResult:
    """Check one session's final history against the tags acknowledged to it."""
    acked = set(acknowledged)
    found = tags_of(history)
    present = set(found)
    duplicated, out_of_order = _order_and_dupes(found)
    lost = sorted(acked - present, key=_parse)
    misplaced = sum(
        1 for i, m in enumerate(history) if i > 0 and m.content.startswith(SUMMARY_PREFIX)
    )
    return CheckResult(
        acknowledged=len(acked),
        present=len(acked & present),
        lost=len(lost),
        duplicated=duplicated,
        out_of_order=out_of_order,
        unacknowledged=len(present - acked),
        misplaced_summaries=misplaced,
        lost_sample=lost[:_SAMPLE],
    )


def check_window(
    history: Sequence[Message], acknowledged: Iterable[str], max_messages: int
) -> CheckResult:
    """Check a session kept to its newest ``max_messages``.

    A window may drop only the oldest messages: each writer's surviving tags
    must be the newest ones it wrote (no gap), and the session must be full
    (``min(max_messages, acknowledged)`` messages). A gap or a shortfall counts
    as lost; the older messages the window dropped by design do not.
    """
    acked = sorted(set(acknowledged), key=_parse)
    found = tags_of(history)
    duplicated, out_of_order = _order_and_dupes(found)
    present = set(found)
    by_writer: dict[str, list[int]] = {}
    for t in acked:
        writer, seq = _parse(t)
        by_writer.setdefault(writer, []).append(seq)
    gaps: list[str] = []
    for writer, seqs in by_writer.items():
        kept = [s for s in seqs if tag(writer, s) in present]
        if kept:
            gaps.extend(
                tag(writer, s) for s in seqs if s > kept[0] and tag(writer, s) not in present
            )
    shortfall = max(0, min(max_messages, len(acked)) - len(present))
    return CheckResult(
        acknowledged=len(acked),
        present=len(present & set(acked)),
        lost=max(len(gaps), shortfall),
        duplicated=duplicated,
        out_of_order=out_of_order,
        unacknowledged=len(present - set(acked)),
        misplaced_summaries=0,
        lost_sample=gaps[:_SAMPLE],
    )
