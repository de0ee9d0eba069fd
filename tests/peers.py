"""What the figure-producing test modules share: the peers' server, the report file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from memfix.servers import Persistence, Server, default_spec


def start_server(persistence: Persistence = Persistence.NONE) -> Server:
    return default_spec().start(persistence=persistence)


def write_report(test: str, result: Any) -> None:
    """Append the figures to $MEMFIX_REPORT (JSON lines), for docs/peers.md."""
    path = os.environ.get("MEMFIX_REPORT")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"test": test, **asdict(result)}) + "\n")
