"""Hostile goldens and inputs: every one exits non-zero with a line naming the file, key
or version, with no traceback, no hang, nothing written outside, no golden file
changed and no password printed.

Each case damages a copy of a real committed golden (often resealing the manifest's
checksums, so that only a deeper check can see the damage) or feeds the CLI a
hostile argument, then runs the real command.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from memfix.cli import main
from memfix.servers import default_spec, discover

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "golden" / "1.0"
PASSWORD = "s3cr3t-PW-value"


def digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = "link:" + os.readlink(p)
        elif p.is_file() and p.stat().st_size > 1 << 26:  # sparse giants: size and mtime
            out[str(p.relative_to(root))] = f"{p.stat().st_size}:{p.stat().st_mtime_ns}"
        elif p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.exists() and not p.is_dir():
            out[str(p.relative_to(root))] = "special"
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(g: Path) -> dict:  # type: ignore[type-arg]
    loaded: dict = json.loads((g / "manifest.json").read_text())  # type: ignore[type-arg]
    return loaded


def write_manifest(g: Path, m: dict, *, reseal: bool = True) -> None:  # type: ignore[type-arg]
    if reseal:
        for name in m["files"]:
            path = g / name
            if path.is_file() and not path.is_symlink():
                m["files"][name] = sha(path)
    (g / "manifest.json").write_text(json.dumps(m, indent=2))


def reseal(g: Path) -> None:
    write_manifest(g, manifest(g))


def edit_dump(g: Path, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    dump = json.loads((g / "dump.json").read_text())
    change(dump)
    (g / "dump.json").write_text(json.dumps(dump, indent=2))
    m = manifest(g)
    m["counts"]["keys"] = len(dump["keys"])
    write_manifest(g, m)


def timeline(dump: dict) -> dict:  # type: ignore[type-arg]
    return next(e for e in dump["keys"] if e["key"] == "session:timeline:messages")


def set_manifest(path: list[str], value: object, *, reseal: bool = True) -> Callable[[Path], None]:
    def change(g: Path) -> None:
        m = manifest(g)
        target = m
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        write_manifest(g, m, reseal=reseal)

    return change


def write_file(name: str, data: bytes, *, keep_checksum: bool = False) -> Callable[[Path], None]:
    def change(g: Path) -> None:
        (g / name).unlink()
        (g / name).write_bytes(data)
        if not keep_checksum and name != "manifest.json":
            reseal(g)

    return change


def symlink(name: str, target: str) -> Callable[[Path], None]:
    def change(g: Path) -> None:
        (g / name).unlink()
        (g / name).symlink_to(target)

    return change


def fifo(name: str) -> Callable[[Path], None]:
    def change(g: Path) -> None:
        (g / name).unlink()
        os.mkfifo(g / name)

    return change


def directory(name: str) -> Callable[[Path], None]:
    def change(g: Path) -> None:
        (g / name).unlink()
        (g / name).mkdir()

    return change


def sparse(name: str, size: int) -> Callable[[Path], None]:
    def change(g: Path) -> None:
        with (g / name).open("r+b") as f:
            f.truncate(size)

    return change


def add_to_dump(entry: dict) -> Callable[[Path], None]:  # type: ignore[type-arg]
    return lambda g: edit_dump(g, lambda d: d["keys"].append(entry))


def with_timeline(change: Callable[[dict], None]) -> Callable[[Path], None]:  # type: ignore[type-arg]
    return lambda g: edit_dump(g, lambda d: change(timeline(d)))


def nested(depth: int) -> bytes:
    return b'{"format": "memfix-golden/1", "x": ' + b"[" * depth + b"]" * depth + b"}"


def relabel_records_as_current(g: Path) -> None:
    """Every 1.0 record re-encoded in the current version and resealed, counts included:
    the RDB still holds the 1.0 records, so the json and rdb restores disagree."""
    from memfix import schemas

    def change(dump: dict) -> None:  # type: ignore[type-arg]
        for e in dump["keys"]:
            if e["type"] == "list" and e["key"].endswith(":messages"):
                records = [schemas.decode_record(v.encode()) for v in e["value"]]
                e["value"] = [{"base64": _b64(schemas.encode_message(r))} for r in records]

    edit_dump(g, change)
    m = manifest(g)
    m["counts"]["records_by_version"] = {schemas.CURRENT_VERSION: m["counts"]["messages"]}
    write_manifest(g, m)


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


def more_messages_than_read(g: Path) -> None:
    m = manifest(g)
    m["counts"]["messages"] += 1
    write_manifest(g, m)


def undecodable_record(g: Path) -> None:
    edit_dump(g, lambda d: timeline(d)["value"].insert(1, '{"role": 7}'))
    m = manifest(g)
    m["counts"]["messages"] += 1
    m["counts"]["records_by_version"]["1.0"] += 1
    write_manifest(g, m)


def rdb_of_another_golden(g: Path) -> None:
    (g / "dump.rdb").write_bytes((REPO / "golden" / "1.1" / "dump.rdb").read_bytes())
    reseal(g)


def rdb_header_claim(g: Path) -> None:
    set_manifest(["server", "rdb_header"], "REDIS0011")(g)


def extra_file(g: Path) -> None:
    (g / "notes.txt").write_text("hello")


@dataclass(frozen=True)
class Case:
    name: str
    damage: Callable[[Path], object]
    expect: str  # must appear in the output: names the file, key or version
    subprocess: bool = False  # run the real console entry point (hang-prone inputs)


HUGE_KEY = "session:" + "k" * (1 << 20) + ":messages"

CASES = [
    # manifest.json
    Case(
        "manifest-truncated",
        write_file("manifest.json", b'{"format": "memfix-golden/1", '),
        "manifest.json: not a valid memfix manifest",
    ),
    Case(
        "manifest-invalid-utf8",
        write_file("manifest.json", b'{"format": "\xff\xfe"}'),
        "manifest.json: not valid UTF-8",
    ),
    Case(
        "manifest-deeply-nested",
        write_file("manifest.json", nested(200_000)),
        "manifest.json: not a valid memfix manifest",
    ),
    Case(
        "manifest-empty",
        write_file("manifest.json", b""),
        "manifest.json: not a valid memfix manifest",
    ),
    Case(
        "manifest-huge",
        write_file("manifest.json", b" " * (5 << 20)),
        "manifest.json: 5242880 bytes, more than",
    ),
    Case(
        "manifest-format-marker",
        set_manifest(["format"], "memfix-golden/9"),
        "manifest format 'memfix-golden/9'",
    ),
    Case(
        "manifest-unknown-field",
        set_manifest(["surprise"], 1),
        "Object contains unknown field `surprise`",
    ),
    Case(
        "manifest-wrong-version",
        set_manifest(["schema_version"], "1.1"),
        "says version 1.1, but lives in 1.0/",
    ),
    Case("manifest-other-set", set_manifest(["set"], "chat"), "belongs to golden set chat"),
    Case(
        "manifest-other-format",
        set_manifest(["format_name"], "langchain"),
        "recorded by format 'langchain'",
    ),
    Case(
        "manifest-file-outside",
        set_manifest(["files", "../outside"], "0" * 64),
        "lists ../outside, not a golden file",
    ),
    Case(
        "manifest-lists-itself",
        set_manifest(["files", "manifest.json"], "0" * 64),
        "lists manifest.json, not a golden file",
    ),
    Case(
        "manifest-no-rdb",
        lambda g: write_manifest(
            g,
            {
                **manifest(g),
                "files": {k: v for k, v in manifest(g)["files"].items() if k != "dump.rdb"},
            },
        ),
        "no checksum for dump.rdb",
    ),
    Case("manifest-key-count", set_manifest(["counts", "keys"], 3), "says 3 keys, dump.json holds"),
    Case(
        "manifest-records-by-version",
        set_manifest(["counts", "records_by_version"], {"1.4": 405}),
        "records by version {'1.4': 405}",
    ),
    Case(
        "manifest-rdb-header",
        rdb_header_claim,
        "dump.rdb: header REDIS0009, the manifest says 'REDIS0011'",
    ),
    Case("manifest-more-messages", more_messages_than_read, "the golden holds 29 / 406"),
    Case(
        "manifest-sessions", set_manifest(["counts", "sessions"], 99), "the golden holds 99 / 405"
    ),
    Case(
        "manifest-bad-checksum",
        set_manifest(["files", "dump.json"], "f" * 64, reseal=False),
        "dump.json: sha256",
    ),
    Case(
        "manifest-symlink-dev-zero",
        symlink("manifest.json", "/dev/zero"),
        "manifest.json: is a symlink",
        subprocess=True,
    ),
    Case(
        "manifest-fifo", fifo("manifest.json"), "manifest.json: not a regular file", subprocess=True
    ),
    Case(
        "manifest-directory",
        directory("manifest.json"),
        "manifest.json: not a regular file",
    ),
    Case("manifest-missing", lambda g: (g / "manifest.json").unlink(), "manifest.json: missing"),
    # dump.json, resealed so that only reading it can find the damage
    Case(
        "dump-truncated-unsealed",
        write_file("dump.json", b'{"format": "memfix-dump/1", "keys": [', keep_checksum=True),
        "dump.json: sha256",
    ),
    Case(
        "dump-invalid-utf8",
        write_file(
            "dump.json",
            b'{"format": "memfix-dump/1", "keys": '
            b'[{"type": "string", "key": "\xff", "value": "v"}]}',
        ),
        "dump.json: not valid UTF-8",
    ),
    Case(
        "dump-deeply-nested",
        write_file(
            "dump.json",
            b'{"format": "memfix-dump/1", "keys": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        ),
        "dump.json: not a valid memfix dump",
    ),
    Case(
        "dump-no-keys",
        lambda g: edit_dump(g, lambda d: d.update(keys=[])),
        "dump.json: holds no keys",
    ),
    Case(
        "dump-unclaimed-key",
        add_to_dump({"type": "string", "key": "cache:unrelated", "value": "x"}),
        "keys no format claims: 'cache:unrelated'",
    ),
    Case(
        "dump-huge-key",
        add_to_dump({"type": "string", "key": "x" + HUGE_KEY, "value": "x"}),
        "keys no format claims: 'xsession:kkkk",
    ),
    Case(
        "dump-duplicate-key",
        lambda g: edit_dump(g, lambda d: d["keys"].append(dict(timeline(d)))),
        "key 'session:timeline:messages' appears twice",
    ),
    Case(
        "dump-absurd-ttl",
        with_timeline(lambda e: e.update(ttl=10**18)),
        "key 'session:timeline:messages': TTL 1000000000000000000",
    ),
    Case("dump-negative-ttl", with_timeline(lambda e: e.update(ttl=-5)), "TTL -5 is not between"),
    Case(  # dump.rdb stores absolute expiry: an hour after recording the key is gone
        "dump-ttl-of-an-hour",
        with_timeline(lambda e: e.update(ttl=3600)),
        "key 'session:timeline:messages' has a TTL of 3600 s: dump.rdb stores absolute expiry",
    ),
    Case(
        "dump-bad-base64",
        add_to_dump({"type": "string", "key": "session:b:messages", "value": {"base64": "%%%"}}),
        "Invalid base64",
    ),
    Case(
        "dump-bad-zset-score",
        add_to_dump(
            {"type": "zset", "key": "{session:z:messages}:z", "value": [["m", "not-a-number"]]}
        ),
        "bad sorted-set score 'not-a-number'",
    ),
    Case(
        "dump-nan-score",
        add_to_dump({"type": "zset", "key": "{session:z:messages}:z", "value": [["m", "nan"]]}),
        "bad sorted-set score 'nan'",
    ),
    Case(
        "dump-stream-bad-id",
        add_to_dump(
            {"type": "stream", "key": "{session:s:messages}:s", "value": [["1-x", ["f", "v"]]]}
        ),
        "bad stream entry id '1-x'",
    ),
    Case(
        "dump-stream-out-of-order",
        add_to_dump(
            {
                "type": "stream",
                "key": "{session:s:messages}:s",
                "value": [["5-0", ["f", "v"]], ["4-0", ["f", "v"]]],
            }
        ),
        "stream entry id 4-0 is out of order",
    ),
    Case(
        "dump-empty-list",
        add_to_dump({"type": "list", "key": "session:e:messages", "value": []}),
        "an empty list cannot exist",
    ),
    Case(
        "dump-duplicate-set-member",
        add_to_dump({"type": "set", "key": "{session:t:messages}:ids", "value": ["a", "a"]}),
        "a set member appears twice",
    ),
    Case(
        "dump-unknown-type",
        add_to_dump({"type": "blob", "key": "k", "value": 1}),
        "Invalid value 'blob'",
    ),
    Case(
        "dump-wrong-format-marker",
        lambda g: edit_dump(g, lambda d: d.update(format="memfix-dump/7")),
        "dump format 'memfix-dump/7'",
    ),
    Case(
        "dump-records-relabelled", relabel_records_as_current, "rdb restore differs from dump.json"
    ),
    Case("dump-undecodable-record", undecodable_record, "'session:timeline:messages' index 1"),
    Case(
        "dump-symlink-outside",
        lambda g: (
            (g.parent / "elsewhere.json").write_bytes((g / "dump.json").read_bytes()),
            symlink("dump.json", str(g.parent / "elsewhere.json"))(g),
        ),
        "dump.json: is a symlink",
    ),
    Case("dump-fifo", fifo("dump.json"), "dump.json: not a regular file", subprocess=True),
    Case("dump-sparse-2gb", sparse("dump.json", 2 << 30), "dump.json: 2147483648 bytes, more than"),
    Case(
        "dump-directory",
        directory("dump.json"),
        "dump.json: not a regular file",
    ),
    # dump.rdb
    Case(
        "rdb-flipped-byte",
        lambda g: (g / "dump.rdb").write_bytes(
            bytes(
                [b ^ 0xFF if i == 100 else b for i, b in enumerate((g / "dump.rdb").read_bytes())]
            )
        ),
        "dump.rdb: sha256",
    ),
    Case(
        "rdb-not-an-rdb",
        write_file("dump.rdb", b"PK\x03\x04 a zip file, resealed"),
        "dump.rdb: not an RDB file",
    ),
    Case(
        "rdb-truncated",
        lambda g: write_file("dump.rdb", (SOURCE / "dump.rdb").read_bytes()[:200])(g),
        "rdb restore on",
    ),
    Case(
        "rdb-of-another-golden",
        rdb_of_another_golden,
        "rdb restore differs from dump.json: key 'session:timeline:messages'",
    ),
    Case(
        "rdb-symlink-dev-zero",
        symlink("dump.rdb", "/dev/zero"),
        "dump.rdb: is a symlink",
        subprocess=True,
    ),
    Case("rdb-sparse-huge", sparse("dump.rdb", 1 << 35), "dump.rdb: 34359738368 bytes, more than"),
    # schema.json
    Case(
        "schema-garbage",
        write_file("schema.json", b"[1, 2"),
        "schema.json: not a valid memfix schema",
    ),
    Case(
        "schema-not-object",
        write_file("schema.json", b"[1, 2]"),
        "schema.json: not a JSON schema object",
    ),
    Case("schema-fifo", fifo("schema.json"), "schema.json: not a regular file", subprocess=True),
    # the golden directory
    Case("extra-file", extra_file, "notes.txt: not listed in the manifest"),
]


@pytest.fixture
def golden_root(tmp_path: Path) -> Path:
    root = tmp_path / "goldens"
    root.mkdir()
    (root / "1.0").mkdir()
    for p in SOURCE.iterdir():
        (root / "1.0" / p.name).write_bytes(p.read_bytes())
    return root


def run_verify(root: Path, *, use_subprocess: bool, extra: tuple[str, ...] = ()) -> tuple[int, str]:
    args = ["verify", "--goldens", str(root), "-q", "--server", default_spec().id, *extra]
    if use_subprocess:
        proc = subprocess.run(
            [sys.executable, "-m", "memfix.cli", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return proc.returncode, proc.stdout + proc.stderr
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def assert_clean_failure(code: int, out: str, expect: str) -> None:
    assert code == 1, out[-2000:]
    assert "Traceback" not in out
    assert len(out) < 20_000, f"{len(out)} characters of output"
    errors = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, out[-2000:]
    assert expect in out, out[-2000:]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_golden(case: Case, golden_root: Path) -> None:
    case.damage(golden_root / "1.0")
    outside = sorted(p.name for p in golden_root.parent.iterdir())
    before = digest(golden_root)
    started = time.monotonic()
    code, out = run_verify(golden_root, use_subprocess=case.subprocess)
    assert time.monotonic() - started < 60
    assert_clean_failure(code, out, case.expect)
    assert digest(golden_root) == before  # no golden file changed
    assert sorted(p.name for p in golden_root.parent.iterdir()) == outside  # nothing written


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("1.0\n", "is not a version"),
        ("01.0", "'01.0' is not a version"),
        ("\u0661.\u0660", "is not a version"),
        ("1.0.0", "'1.0.0' is not a version"),
    ],
    ids=["trailing-newline", "leading-zero", "arabic-indic-digits", "three-parts"],
)
def test_golden_directories_that_are_not_versions(
    golden_root: Path, name: str, expect: str
) -> None:
    (golden_root / "1.0").rename(golden_root / name)
    code, out = run_verify(golden_root, use_subprocess=False)
    assert_clean_failure(code, out, expect)


def test_a_golden_directory_that_is_a_symlink(golden_root: Path, tmp_path: Path) -> None:
    (golden_root / "1.0").rename(tmp_path / "real")
    (golden_root / "1.0").symlink_to(tmp_path / "real")
    code, out = run_verify(golden_root, use_subprocess=False)
    assert_clean_failure(code, out, "1.0: a golden must be a plain directory")


@pytest.mark.parametrize("version", ["1.0\n", "latest", "1.00", "9.9"])
def test_hostile_version_arguments(golden_root: Path, version: str) -> None:
    code, out = run_verify(golden_root, use_subprocess=False, extra=(version,))
    assert_clean_failure(code, out, "9.9" if version == "9.9" else "is not a version")


def test_a_function_library_in_the_rdb_fails(golden_root: Path, tmp_path: Path) -> None:
    """An RDB can carry code (FUNCTION libraries) that a dump.json cannot show."""
    from memfix.goldens import read_dump, restore_dump
    from memfix.servers import rdb_header

    spec = next((s for s in discover(docker=False) if s.version_tuple >= (7, 0)), None)
    if spec is None:
        pytest.skip("needs a Redis 7+ or Valkey server to write a FUNCTION library")
    g = golden_root / "1.0"
    with spec.start() as server:
        restore_dump(read_dump(g / "dump.json"), server.client)
        server.client.execute_command(  # type: ignore[no-untyped-call]
            "FUNCTION",
            "LOAD",
            "#!lua name=evil\nredis.register_function('f', function() return 1 end)",
        )
        server.save_rdb(tmp_path / "with-function.rdb")
    (g / "dump.rdb").write_bytes((tmp_path / "with-function.rdb").read_bytes())
    m = manifest(g)
    m["server"]["rdb_header"] = str(rdb_header(g / "dump.rdb"))
    write_manifest(g, m)
    result = CliRunner().invoke(
        main, ["verify", "--goldens", str(golden_root), "-q", "--server", spec.id]
    )
    assert_clean_failure(result.exit_code, result.output, "dump.rdb carries FUNCTION libraries")


# -- hostile URLs and targets: no password in any output ------------------------------

URLS = [
    f"redis://:{PASSWORD}@127.0.0.1:1/0",
    f"redis://user:{PASSWORD}@127.0.0.1:1/0",
    f"redis://127.0.0.1:1/0?password={PASSWORD}",
    f"rediss://user:{PASSWORD}@127.0.0.1:1/0",
    f"unix:///nonexistent/redis.sock?password={PASSWORD}&db=0",
    f"redis://user:{PASSWORD}@[::1",
]


@pytest.mark.parametrize("url", URLS, ids=["colon", "user", "query", "tls", "unix", "malformed"])
@pytest.mark.parametrize("command", ["restore", "doctor"])
def test_no_password_in_any_output(url: str, command: str, golden_root: Path) -> None:
    args = [command, "1.0", "--url", url] if command == "restore" else [command, url]
    proc = subprocess.run(
        [sys.executable, "-m", "memfix.cli", *args, "--goldens", str(golden_root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert PASSWORD not in out
    assert "Traceback" not in out and out.startswith("Error: ") and out.count("\n") == 1, out


def test_restore_refuses_colliding_keys_and_names_them(golden_root: Path) -> None:
    with default_spec().start() as server:
        server.client.set(b"session:timeline:messages", b"precious")
        url = server.url.replace("redis://", f"redis://:{PASSWORD}@")
        server.client.config_set("requirepass", PASSWORD)
        result = CliRunner().invoke(
            main, ["restore", "1.0", "--url", url, "--yes", "--goldens", str(golden_root)]
        )
        assert result.exit_code == 1
        assert "already holds 1 key(s) of this golden: 'session:timeline:messages'" in result.output
        assert "--replace-existing" in result.output and PASSWORD not in result.output
        client = server.new_client(password=PASSWORD)
        assert client.dbsize() == 1 and client.get(b"session:timeline:messages") == b"precious"
        result = CliRunner().invoke(
            main,
            [
                "restore",
                "1.0",
                "--url",
                url,
                "--yes",
                "--replace-existing",
                "--goldens",
                str(golden_root),
            ],
        )
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.output and ":***@" in result.output
        assert client.llen(b"session:timeline:messages") == 5


def test_restore_writes_nothing_when_the_last_key_is_bad(golden_root: Path) -> None:
    """Validation runs before the first write: an absurd TTL on the last key leaves the
    target empty (it used to write every key before it, then fail)."""
    g = golden_root / "1.0"

    def change(dump: dict) -> None:  # type: ignore[type-arg]
        dump["keys"][-1]["ttl"] = 10**15

    edit_dump(g, change)
    with default_spec().start() as server:
        result = CliRunner().invoke(
            main, ["restore", "1.0", "--url", server.url, "--goldens", str(golden_root)]
        )
        assert result.exit_code == 1 and "TTL 1000000000000000 is not between" in result.output
        assert server.client.dbsize() == 0


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pyproject", "args", "expect"),
    [
        ("[tool.memfix\n", ["list"], "pyproject.toml: not valid TOML"),
        (
            '[tool.memfix.sets.chat]\nformat = "nope.module:FORMAT"\n',
            ["list"],
            "cannot import nope.module",
        ),
        ('[tool.memfix.sets.chat]\nformat = "json:dumps"\n', ["list"], "not a memfix format"),
        (
            '[tool.memfix.sets.chat]\nformat = "memfix"\nsurprise = 1\n',
            ["list"],
            "unknown key 'surprise'",
        ),
        (
            '[tool.memfix.sets.a]\nformat = "memfix"\n[tool.memfix.sets.b]\nformat = "memfix"\n',
            ["list"],
            "pass --set NAME",
        ),
        (
            '[tool.memfix.sets.a]\nformat = "memfix"\n',
            ["list", "--set", "zz"],
            "no golden set 'zz'; configured: a",
        ),
        ('[tool.memfix.sets.a]\nformat = "memfix"\n', ["list"], "golden set 'a': no goldens"),
    ],
    ids=[
        "bad-toml",
        "missing-module",
        "not-a-format",
        "unknown-key",
        "ambiguous-set",
        "unknown-set",
        "empty-set",
    ],
)
def test_hostile_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pyproject: str, args: list[str], expect: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert_clean_failure(result.exit_code, result.output, expect)


# -- record: one at a time, and a killed run leaves nothing that matters ------------------


def test_concurrent_record_is_refused_in_one_line(tmp_path: Path) -> None:
    import fcntl

    from memfix import schemas

    root = tmp_path / "golden"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another `memfix record` holds the directory
        result = CliRunner().invoke(
            main, ["record", "--version", schemas.CURRENT_VERSION, "--goldens", str(root), "-q"]
        )
    finally:
        os.close(fd)
    assert_clean_failure(result.exit_code, result.output, "another `memfix record` is running")
    assert list(root.iterdir()) == []


def test_a_killed_record_leaves_a_staging_directory_the_next_run_removes(tmp_path: Path) -> None:
    from memfix import schemas

    root = tmp_path / "golden"
    stale = root / f".record-{schemas.CURRENT_VERSION}-killed"
    stale.mkdir(parents=True)
    (stale / "dump.json").write_text("half written")
    code, out = run_verify(root, use_subprocess=False)  # verify ignores it: not a golden
    assert_clean_failure(code, out, "no goldens")
    result = CliRunner().invoke(
        main,
        ["record", "--version", schemas.CURRENT_VERSION, "--goldens", str(root), "--fresh"],
    )
    assert result.exit_code == 0, result.output
    assert "left by an interrupted record" in result.output
    assert sorted(p.name for p in root.iterdir()) == [schemas.CURRENT_VERSION]


def test_an_unreadable_golden_file(golden_root: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: every file is readable, PermissionError cannot happen")
    (golden_root / "1.0" / "manifest.json").chmod(0)
    code, out = run_verify(golden_root, use_subprocess=False)
    assert_clean_failure(code, out, "manifest.json: cannot read (Permission denied)")
