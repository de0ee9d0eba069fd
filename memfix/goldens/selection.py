"""Which servers a golden run uses: one policy for the CLI, the plugin, the bench and tests.

Explicit choices win (``--server``/``--memfix-server``, each resolved by
:func:`memfix.servers.select_spec`); ``every`` asks for every server this
machine can start (the plugin's default: the whole matrix); otherwise the
default server alone (the oldest local one, whose dumps every newer one loads).
"""

from __future__ import annotations

from collections.abc import Sequence

from memfix.servers import ServerSpec, default_spec, discover, select_spec

__all__ = ["choose_servers"]


def choose_servers(queries: Sequence[str] = (), *, every: bool = False) -> list[ServerSpec]:
    """The servers to use, deduplicated, in the order given (or discovery order)."""
    if queries:
        specs = [select_spec(q) for q in queries]
    elif every:
        specs = discover()
    else:
        specs = [default_spec()]
    seen: dict[str, ServerSpec] = {}
    for spec in specs:
        seen.setdefault(spec.id, spec)
    return list(seen.values())
