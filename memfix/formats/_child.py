"""Entry point run *inside* an isolated environment (``python -m memfix.formats._child``).

``write FORMAT URL VERSION`` runs the format's scenario against the server at
URL; ``read FORMAT URL`` reads its sessions back. Either prints one JSON line
on stdout: the exact versions of every installed distribution, and the
sessions for ``read`` (or the one-line error the format raised).
"""

from __future__ import annotations

import json
import sys
from importlib import metadata

import redis

from memfix.errors import MemfixError
from memfix.formats._library import library_format


def _installed() -> dict[str, str]:
    found = {d.metadata["Name"]: d.version for d in metadata.distributions() if d.metadata["Name"]}
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def main(argv: list[str]) -> int:
    command, name, url, *rest = argv
    fmt = library_format(name)
    client = redis.Redis.from_url(url)
    out: dict[str, object] = {"packages": _installed()}
    try:
        if command == "write":
            fmt.write_scenario(client, rest[0])
        else:
            out["sessions"] = fmt.read_sessions(client)
    except MemfixError as exc:
        out["error"] = str(exc)
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
