"""The ``memfix`` console script: the CLI, or one line saying how to get it.

``pip install memfix`` installs the store only (redis, hiredis, msgspec); the
CLI needs the toolkit extra. Without it, running ``memfix`` should say so in
one line rather than end in an ImportError traceback.
"""

from __future__ import annotations

import sys

_TOOLKIT = ("click", "pytest", "syrupy")


def main() -> None:
    try:
        from memfix.cli import main as cli
    except ModuleNotFoundError as exc:
        if exc.name not in _TOOLKIT:
            raise
        sys.exit(
            f"Error: the memfix command needs the toolkit ({exc.name} is missing): "
            "pip install 'memfix[test]'"
        )
    cli()
