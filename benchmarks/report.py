"""The results as terminal tables or Markdown (for docs/benchmarks.md), and the targets."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.append import MINIMAL
from benchmarks.history import UNTYPED


def _si(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    if x >= 10:
        return f"{x:.0f}"
    return f"{x:.1f}"


def _spread(s: dict[str, float]) -> str:
    return f"{_si(s['low'])}-{_si(s['high'])}"


def _ratio(s: dict[str, float]) -> str:
    return f"{s['median']:.2f}x ({s['low']:.2f}-{s['high']:.2f})"


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    return "\n".join(out)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(out)


def render(result: dict[str, Any], *, md: bool = False) -> str:
    lines: list[str] = []
    emit = lines.append
    tab: Callable[[list[str], list[list[str]]], str] = markdown_table if md else text_table

    def head(text: str) -> None:
        emit(f"\n#### {text}\n" if md else f"\n{text}")

    static = {(s["workload"], s["contender"]): s for s in result["static"]}
    for wl in result["workloads"]:
        for parser in result["parsers"]:
            sel = [
                r
                for r in result["rows"]
                if r["workload"] == wl["name"]
                and r["parser"] == parser
                and r.get("regime") == wl["regime"]
            ]
            if not sel:
                continue
            unit = wl["unit"]
            head(
                f"{wl['title']} [{wl['regime']}, {parser} parser]; "
                f"ratios: median (p25-p75) of per-slice ratios"
            )
            headers = ["contender", f"{unit}/s", "spread"]
            if unit == "histories":
                headers.append("msgs/s")
            headers += [f"vs {b}" for b in wl["baselines"]]
            headers += ["round trips/call", "server cmds/call", "server µs/call"]
            body = []
            for r in sel:
                st = static.get((r["workload"], r["contender"]), {})
                cells = [r["contender"], _si(r["calls_per_s"]["median"]), _spread(r["calls_per_s"])]
                if unit == "histories":
                    cells.append(_si(r["msgs_per_s"]["median"]))
                cells += [_ratio(r["ratios"][b]) for b in wl["baselines"]]
                cells += [
                    f"{st.get('round_trips', '')}",
                    " ".join(f"{k}:{v:g}" for k, v in st.get("server_commands", {}).items()),
                    f"{st['server_usec']:.1f}" if "server_usec" in st else "",
                ]
                body.append(cells)
            emit(tab(headers, body))
    if result.get("memory"):
        head("bytes per message (MEMORY USAGE of every key of a 100-message session):")
        emit(
            tab(
                ["message size", "store", "B/msg", "keys", "record B"],
                [
                    [
                        m["size"],
                        m["store"],
                        f"{m['bytes_per_msg']:.1f}",
                        str(m["keys"]),
                        f"{m['record_bytes']:.1f}",
                    ]
                    for m in result["memory"]
                ],
            )
        )
    if result.get("growth"):
        g = result["growth"]
        head(f"after {g['appends']:,} appends through a window of {g['window']}:")
        emit(tab(["key", "bytes"], [[k, str(v)] for k, v in g["bytes"].items()]))
    if result.get("long_lists"):
        head("long lists: get_history(100) as the session grows (unpinned):")
        emit(
            tab(
                ["server", "list length", "server µs per LRANGE -100 -1", "get_history(100) µs"],
                [
                    [
                        l_["server"],
                        f"{l_['length']:,}",
                        f"{l_['server_usec']:.1f}",
                        f"{l_['get_history_usec']['median']:.0f}",
                    ]
                    for l_ in result["long_lists"]
                ],
            )
        )
    if result.get("instructions"):
        head("client instructions per call (callgrind, deterministic; client process only):")
        emit(
            tab(
                ["workload", "memfix", "instructions", "baseline", "instructions", "ratio"],
                [
                    [
                        i["workload"],
                        i["memfix"],
                        f"{i['memfix_instructions']:,}",
                        i["baseline"],
                        f"{i['baseline_instructions']:,}",
                        f"{i['ratio']:.3f}x",
                    ]
                    for i in result["instructions"]
                ],
            )
        )
    if result.get("server_starts"):
        head("fresh server start (spec.start() until PING answers), ms:")
        emit(
            tab(
                ["server", "backend", "median", "spread"],
                [
                    [
                        s["server"],
                        s["backend"],
                        f"{s['start_ms']['median']:.0f}",
                        f"{s['start_ms']['low']:.0f}-{s['start_ms']['high']:.0f}",
                    ]
                    if "start_ms" in s
                    else [s["server"], s["backend"], "error", s.get("error", "")[:60]]
                    for s in result["server_starts"]
                ],
            )
        )
    if result.get("golden_matrix"):
        head("golden matrix: pytest wall time, interpreter start to exit, s:")
        emit(
            tab(
                ["command", "median", "spread", "pytest says"],
                [
                    [
                        m["command"],
                        f"{m['seconds']['median']:.2f}",
                        f"{m['seconds']['low']:.2f}-{m['seconds']['high']:.2f}",
                        m["pytest_says"],
                    ]
                    for m in result["golden_matrix"]
                ],
            )
        )
    if result.get("committed_goldens"):
        head("committed goldens: `verify` wall time per golden and server, s:")
        emit(
            tab(
                ["golden", "server", "messages", "total", "status"],
                [
                    [
                        c["golden"],
                        c["server"],
                        str(c.get("messages", "")),
                        f"{c['seconds']:.2f}" if "seconds" in c else "error",
                        c.get("status", c.get("error", ""))[:50],
                    ]
                    for c in result["committed_goldens"]
                ],
            )
        )
    g = result.get("goldens")
    if g and not g.get("skipped"):
        head(f"synthetic goldens on {g['server']} (median of {g['repeat']}; msgs/s):")
        emit(
            tab(
                ["messages", "json parse+replay", "replay only", "rdb (start+load)", "verify s"],
                [
                    [
                        f"{r['messages']:,}",
                        _si(r["restore_json"]["median"]),
                        _si(r["restore_json_replay_only"]["median"]),
                        _si(r["restore_rdb"]["median"]),
                        f"{r['verify_s']['median']:.2f}",
                    ]
                    for r in g["sizes"]
                ],
            )
        )
    head("targets:")
    for t in result["targets"]:
        state = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        emit(f"{'- ' if md else '  '}[{state}] {t['target']}: {t['measured']}")
    for note in result["notes"]:
        emit(f"{'- ' if md else ''}note: {note}")
    return "\n".join(lines)


def _row(
    result: dict[str, Any], workload: str, contender: str, parser: str
) -> dict[str, Any] | None:
    """The row of the main regime (pinned when it ran)."""
    for r in result["rows"]:
        if (
            r["workload"] == workload
            and r["parser"] == parser
            and r["contender"].startswith(contender)
            and r.get("regime") == result["main_regime"]
        ):
            found: dict[str, Any] = r
            return found
    return None


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    parser = result["parsers"][0]

    def add(target: str, met: bool | None, measured: str) -> None:
        out.append({"target": target, "met": met, "measured": measured})

    def ratio_target(
        target: str, workload: str, contender: str, baseline: str, want: float
    ) -> None:
        r = _row(result, workload, contender, parser)
        if r is None:
            add(target, None, "not run")
            return
        s = r["ratios"][baseline]
        # three decimals: 0.969 must not print as a 0.97 that meets a 0.97 target
        measured = f"{s['median']:.3f}x ({s['low']:.2f}-{s['high']:.2f})"
        add(target, s["median"] >= want, f"{measured} [{result['main_regime']}]")

    ratio_target(
        "append (ttl+window) >= 0.97x the minimal one-script append",
        "append-1",
        "memfix ttl+window",
        MINIMAL,
        0.97,
    )
    ratio_target(
        "batch append (ttl+window, 10 per call) >= 0.97x the minimal script",
        "append-10",
        "memfix ttl+window",
        f"{MINIMAL} x10",
        0.97,
    )
    for wl, what in (
        ("history-100", "get_history(100), GC off"),
        ("history-100-gc", "get_history(100), GC on"),
        ("history-all", "get_history(limit=None) of 10k, GC off"),
        ("history-all-gc", "get_history(limit=None) of 10k, GC on"),
    ):
        ratio_target(
            f"{what} >= 0.92x LRANGE + untyped decode", wl, "memfix get_history", UNTYPED, 0.92
        )
    mem = {(m["size"], m["store"].split(" ")[0]): m for m in result.get("memory", [])}
    if ("200B", "memfix") in mem:
        a, b = mem["200B", "memfix"], mem["200B", "article"]
        add(
            "bytes per message (200 chars, all keys) <= the article's JSON store",
            a["bytes_per_msg"] <= b["bytes_per_msg"],
            f"{a['bytes_per_msg']:.1f} vs {b['bytes_per_msg']:.1f} B/msg "
            f"({a['keys']} key per session)",
        )
    if result.get("growth"):
        g = result["growth"]
        add(
            "no key grows past the window (2,000 appends, window 100)",
            len(g["keys"]) == 1,
            ", ".join(f"{k}: {v} B" for k, v in g["bytes"].items()),
        )
    for prefix, want in (("langchain", 5.0), ("llama", 3.0)):
        mine = _row(result, "history-100", "memfix get_history", parser)
        peer = _row(result, "history-100", prefix, parser)
        if mine is None or peer is None:
            continue
        per_round = [a / b for a, b in zip(mine["rounds"], peer["rounds"], strict=True)]
        add(
            f"get_history(100) >= {want:g}x {peer['contender'].split(' .')[0]}",
            statistics.median(per_round) >= want,
            f"{statistics.median(per_round):.2f}x ({min(per_round):.2f}-{max(per_round):.2f})",
        )
    if result.get("server_starts") and not result.get("golden_matrix"):
        # --goldens ran but the matrix gave no figure (a failed run, said in the notes):
        # a target that was not measured is not met
        add("golden matrix under 3 s wall on 2 cores", False, "not measured (see the notes)")
    for m in result.get("golden_matrix", []):
        t = m["seconds"]
        add(
            f"golden matrix under 3 s wall on 2 cores ({m['workers']} pytest process"
            f"{'es' if m['workers'] > 1 else ''})",
            t["median"] < 3.0,
            f"{t['median']:.2f} s ({t['low']:.2f}-{t['high']:.2f})",
        )
    return out
