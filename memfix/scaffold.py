"""``memfix init``: the three files a project needs to guard its stored chat memory.

Writes the ``[tool.memfix]`` set, a format module whose two functions are where
the project's own write and read code must be called, and the one-line golden
test. Never overwrites: an existing file or table is left as it is and reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from memfix.errors import ConfigError

__all__ = ["InitResult", "init_project"]

FORMAT_TEMPLATE = '''"""{package}'s stored chat memory as a memfix format.

memfix records a golden of each release by calling ``write_scenario`` with your
*current* write code, and checks every committed golden by calling
``read_sessions`` with your *current* read code. Replace the two marked blocks
with calls into your own store (the placeholder writes JSON lists under
``{prefix}*`` with plain redis-py so that the loop runs from the first minute).
"""

from __future__ import annotations

import json
from typing import Any

import redis

from memfix.formats import Version


class Format:
    name = "{set_name}"
    #: The version of the stored data your current code writes; bump it when that changes.
    current_version = "0.1"
    #: Every key your store owns (Redis glob patterns), companion keys included.
    key_patterns = ("{prefix}*",)

    def write_scenario(self, client: redis.Redis, version: Version) -> None:
        """A few conversations written by the current code, deterministically (fixed times)."""
        # --- replace with your store's append, e.g. MyStore(client).append(user, message) ---
        for user in (f"alice-{{version}}", f"bob-{{version}}"):
            for i, text in enumerate(["Hello!", "Hi, how can I help?"]):
                record = {{"role": ("user", "assistant")[i % 2], "content": text, "ts": 1.7e9 + i}}
                client.rpush(f"{prefix}{{user}}", json.dumps(record))

    def read_sessions(self, client: redis.Redis) -> dict[str, list[Any]]:
        """Every stored conversation, read by the current code into JSON-able values."""
        # --- replace with your store's load, e.g. MyStore(client).history(user) ---
        return {{
            key.decode(): [json.loads(raw) for raw in client.lrange(key, 0, -1)]
            for key in sorted(client.scan_iter(match="{prefix}*"))
        }}


FORMAT = Format()
'''

TEST_TEMPLATE = '''"""Every committed golden loads through today's code as its snapshot says,
and today's writer still writes what the current version's golden holds."""


def test_golden_loads_unchanged(memfix_golden, memfix_snapshot):
    assert memfix_golden.view() == memfix_snapshot


def test_golden_is_written_unchanged(memfix_write_side):
    memfix_write_side.check()
'''


@dataclass
class InitResult:
    written: list[Path] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # what already existed, left unchanged
    set_name: str = ""
    format_ref: str = ""


def _package_of(root: Path, text: str) -> str:
    """The project's import package: [project] name normalised, if such a package exists."""
    match = re.search(r'(?m)^\s*name\s*=\s*"([^"]+)"', text)
    candidates = []
    if match:
        candidates.append(re.sub(r"[-.]+", "_", match.group(1)).lower())
    candidates += sorted(
        p.parent.name for p in root.glob("*/__init__.py") if p.parent.name not in ("tests", "test")
    )
    for name in candidates:
        for base in (root, root / "src"):
            if (base / name / "__init__.py").is_file():
                return name
    raise ConfigError(
        f"{root}: no Python package found (pass --package NAME, a directory with __init__.py)"
    )


def init_project(
    root: Path, *, set_name: str | None = None, package: str | None = None, prefix: str = "chat:"
) -> InitResult:
    """Add memfix to the project at ``root`` (which must hold a pyproject.toml)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise ConfigError(f"{root}: no pyproject.toml (run `memfix init` in your project's root)")
    text = pyproject.read_text(encoding="utf-8")
    package = package or _package_of(root, text)
    if not package.isidentifier():
        raise ConfigError(f"--package {package!r}: not a Python package name")
    set_name = set_name or re.sub(r"[^A-Za-z0-9_-]", "-", package)
    base = root / "src" if (root / "src" / package).is_dir() else root
    result = InitResult(set_name=set_name, format_ref=f"{package}.golden_format:FORMAT")

    if "[tool.memfix" in text:
        result.kept.append(f"{pyproject.name} already has a [tool.memfix] table")
    else:
        block = (
            f"\n[tool.memfix.sets.{set_name}]\n"
            f'format = "{result.format_ref}"\n'
            f'dir = "golden/{set_name}"\n'
        )
        with pyproject.open("a", encoding="utf-8") as f:
            f.write(("" if text.endswith("\n") else "\n") + block)
        result.written.append(pyproject)

    for path, content in (
        (
            base / package / "golden_format.py",
            FORMAT_TEMPLATE.format(package=package, set_name=set_name, prefix=prefix),
        ),
        (root / "tests" / "test_goldens.py", TEST_TEMPLATE),
    ):
        if path.exists():
            result.kept.append(f"{path.relative_to(root)} already exists")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:  # "x": never overwrite, even in a race
            f.write(content)
        result.written.append(path)
    return result
