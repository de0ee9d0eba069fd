"""Entry point run *inside* an isolated environment (``python -m memfix.formats._child``).

``info FORMAT``, ``write FORMAT VERSION``, ``read FORMAT``, against the server
whose URL is in ``MEMFIX_CHILD_URL`` (not on the command line, where a
password would show in process listings). FORMAT is
resolved like ``[tool.memfix]`` names it (a built-in name or
``package.module:attr``), so the *current* format code runs against the
library release installed in that environment. Prints one JSON line on
stdout: the format's ``version`` as that release writes it, the exact
versions of every installed distribution (``packages``), the sessions for
``read``, or the one-line ``error`` the format raised.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata

import redis

from memfix.errors import MemfixError
from memfix.formats.registry import resolve_format
from memfix.version import Version

__all__ = ["main"]


def _installed() -> dict[str, str]:
    found = {d.metadata["Name"]: d.version for d in metadata.distributions() if d.metadata["Name"]}
    found.pop("memfix", None)  # the checkout runs from PYTHONPATH, not from this install
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def main(argv: list[str]) -> int:
    command, ref, *rest = argv
    out: dict[str, object] = {"packages": _installed()}
    try:
        fmt = resolve_format(ref)
        out["version"] = str(fmt.current_version)
        if command in ("write", "read"):
            client = redis.Redis.from_url(os.environ["MEMFIX_CHILD_URL"])
            if command == "write":
                fmt.write_scenario(client, Version.parse(rest[0]))
            else:
                out["sessions"] = fmt.read_sessions(client)
    except MemfixError as exc:
        out["error"] = " ".join(str(exc).split())
    except Exception as exc:  # the library's own failure: one line, as build_view words it
        text = " ".join(str(exc).split())[:300]
        out["error"] = f"format {ref!r}: {command} raised {type(exc).__name__}: {text}"
    print(json.dumps(out, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
