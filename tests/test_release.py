"""Releasing a schema version with the documented commands only (docs/releasing.md).

The end-to-end test copies the package, goldens and golden test into a
temporary git repository and releases 9.9 there with a new optional field:
``memfix schema new``, an edit of the new module and of the model,
``memfix record``, the snapshot update, the golden suite green.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from memfix import schemas
from memfix.cli import main
from memfix.errors import ReleaseError
from memfix.release import committed_in_git, new_schema_version
from memfix.servers import default_spec
from tests.test_record_verify import REPO

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "memfix test",
    "GIT_AUTHOR_EMAIL": "test@memfix.invalid",
    "GIT_COMMITTER_NAME": "memfix test",
    "GIT_COMMITTER_EMAIL": "test@memfix.invalid",
}


class Repo:
    """A throwaway copy of this repository's package, goldens and golden test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / "memfix", root / "memfix", ignore=ignore)
        shutil.copytree(REPO / "golden", root / "golden")
        (root / "tests").mkdir()
        for name in ("__init__.py", "test_goldens.py"):
            shutil.copy(REPO / "tests" / name, root / "tests" / name)
        shutil.copytree(REPO / "tests" / "__snapshots__", root / "tests" / "__snapshots__")
        shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
        self.env = {
            **os.environ,
            **_GIT_ENV,
            "PYTHONPATH": str(root),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.git("init", "-q")
        self.commit("the released state")

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def memfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "memfix.cli", *args)

    def pytest(self, *args: str) -> subprocess.CompletedProcess[str]:
        server = ("--memfix-server", default_spec().id)  # one server keeps it fast
        pytest = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
        return self.run(*pytest, *server, *args)

    def git(self, *args: str) -> str:
        proc = self.run("git", *args, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def edit(self, path: str, old: str, new: str) -> None:
        file = self.root / path
        text = file.read_text()
        assert text.count(old) == 1, f"{old!r} not found once in {path}"
        file.write_text(text.replace(old, new))


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_release_9_9_with_a_new_optional_field(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    current = schemas.CURRENT_VERSION

    # 1. one command creates the module; the registry discovers it
    out = ok(repo.memfix("schema", "new", "9.9"))
    assert "memfix/schemas/v9_9.py" in out
    # 2. the one edit of the new module (and the model gains the field)
    repo.edit(
        "memfix/schemas/v9_9.py",
        'order; new ones go below, with defaults."""\n',
        'order; new ones go below, with defaults."""\n\n    reasoning: str | None = None\n',
    )
    repo.edit(
        "memfix/model.py",
        "    tool_call_id: str | None = None\n",
        "    tool_call_id: str | None = None\n    reasoning: str | None = None\n",
    )
    # 3. check statically, record; an edit after recording is re-recorded explicitly
    out = ok(repo.memfix("check"))
    assert out.splitlines()[0].endswith(f", {schemas.CURRENT_VERSION}, 9.9") and out.splitlines()[
        -1
    ].startswith("ok: ")
    assert "9.9: " in ok(repo.memfix("record", "--version", "9.9", "-q"))
    again = repo.memfix("record", "--version", "9.9", "-q")
    assert again.returncode == 1
    assert again.stderr.strip().endswith("re-record it with --replace-unreleased")
    ok(repo.memfix("record", "--version", "9.9", "-q", "--replace-unreleased"))
    # 4. snapshot update: the diff to review adds 9.9 and changes no older snapshot
    ok(repo.pytest("tests/test_goldens.py", "--snapshot-update"))
    status = repo.git("status", "--porcelain", "--untracked-files=all").split("\n")
    changed = sorted(line[3:] for line in status if line)
    assert [c for c in changed if c.startswith("tests/")] == [
        "tests/__snapshots__/test_goldens/9.9.json"
    ], changed
    assert not [c for c in changed if c.startswith("golden/") and "/9.9/" not in c]
    # 5. the golden suite is green, 9.9 included, and the new field round-trips
    out = ok(repo.pytest("tests/test_goldens.py", "-vv"))
    assert "[9.9-json-" in out and "[9.9-rdb-" in out and " failed" not in out
    out = ok(repo.run(sys.executable, "-c", _ROUND_TRIP))
    assert out.split() == ["9.9", "thinking", current, "refused:", "reasoning"], out
    out = ok(repo.memfix("verify", "-q"))
    assert out.strip().endswith(f"golden(s) verified on {default_spec().id}")
    # 6. commit: from now on 9.9 is released and cannot be re-recorded
    repo.commit("release 9.9")
    refused = repo.memfix("record", "--version", "9.9", "-q", "--replace-unreleased")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "is committed in git: a released golden is never re-recorded" in refused.stderr


# A new field stored and read back by the released code; a store pinned to the
# previous version refuses to drop it.
_ROUND_TRIP = """
from memfix import Message, RedisMemoryStore, SCHEMA_VERSION, schemas
from memfix.servers import default_spec
print(SCHEMA_VERSION)
with default_spec().start() as server:
    store = RedisMemoryStore(server.client)
    store.append_message("s", Message("assistant", "hi", reasoning="thinking"))
    print(store.get_history("s")[0].reasoning)
    previous = list(schemas.RELEASED)[-2]
    print(previous)
    pinned = RedisMemoryStore(server.client, write_version=previous)
    pinned.append_message("s", Message("user", "plain"))
    try:
        pinned.append_message("s", Message("assistant", "x", reasoning="lost?"))
    except ValueError as exc:
        print("refused:", str(exc).split("(")[1].split(")")[0])
"""


# -- the steps' one-line refusals ------------------------------------------------------


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            "1.04",
            "'1.04' is not a version (expected ASCII MAJOR.MINOR without leading zeros, e.g. 1.4)",
        ),
        ("2", "'2' is not a version"),
        ("\u0662.\u0660", "is not a version"),
        ("1.3", "1.3 is not newer than the current schema version"),
        (schemas.CURRENT_VERSION, "is already the current schema version"),
    ],
)
def test_schema_new_refuses_bad_versions(version: str, message: str) -> None:
    before = sorted(p.name for p in Path(schemas.__file__).parent.iterdir())
    code, out = run("schema", "new", version)
    assert code == 1 and out.startswith("Error: ") and out.count("\n") == 1
    assert message in out
    assert sorted(p.name for p in Path(schemas.__file__).parent.iterdir()) == before


def test_schema_new_writes_an_importable_module_and_never_overwrites(tmp_path: Path) -> None:
    path = new_schema_version("2.0", package_dir=tmp_path)
    assert path == tmp_path / "v2_0.py"
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # the module, standalone
    record = namespace["Record"]
    latest = schemas.RELEASED[schemas.CURRENT_VERSION]
    assert record.__struct_fields__ == latest.Record.__struct_fields__  # type: ignore[attr-defined]
    # untagged like 1.6: the release must add a field (its length tells it apart)
    assert record.__struct_config__.tag is None  # type: ignore[attr-defined]
    old = latest.Record("user", "hi", 5.0, id="i", name="n")
    new = namespace["upcast"](old)  # type: ignore[operator]
    assert namespace["decode"](namespace["encode"](new)) == new  # type: ignore[operator]
    assert new.content == "hi" and new.name == "n"
    with pytest.raises(ReleaseError, match=r"v2_0\.py already exists"):
        new_schema_version("2.0", package_dir=tmp_path)


def test_committed_in_git(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="not in a git work tree"):
        committed_in_git(tmp_path)
    env = {**os.environ, **_GIT_ENV}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "f").write_text("x")
    assert not committed_in_git(tmp_path / "g")  # no commit at all
    subprocess.run(["git", "-C", str(tmp_path), "add", "g"], check=True, env=env)
    assert not committed_in_git(tmp_path / "g")  # staged is not committed
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "g"], check=True, env=env)
    assert committed_in_git(tmp_path / "g")
    assert committed_in_git(REPO / "golden" / "1.0")
