"""``memfix capture`` as a library, against real servers: read-only (as a Redis ACL
user allowed only read commands, and the source's dump unchanged), deterministic,
no original free text left, and the capture restores and views like a recorded golden."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from click.testing import CliRunner

from memfix.cli import main
from memfix.errors import GoldenError
from memfix.formats.foreign import write_foreign_scenario
from memfix.goldens import dump_keyspace, encode_dump, find_goldens, golden_view, restore_dump
from memfix.goldens.capture import Capture, capture, hash_tag
from memfix.goldens.dump import key_text, value_bytes
from memfix.goldens.redact import RedactionRules, Redactor
from memfix.servers import Server, default_spec
from memfix.store import KeyLayout
from tests.test_record_verify import REPO

LAYOUT = KeyLayout()
PATTERNS = [LAYOUT.pattern, "{" + LAYOUT.pattern + "}:*", "{*}:*:" + LAYOUT.pattern]
PASSWORD = "s3cret-capture-pw"
CLOCK = lambda: datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # noqa: E731


def read_only_url(server: Server) -> str:
    """A URL of an ACL user of ``server`` allowed only read commands (as on a replica)."""
    server.client.acl_setuser(
        "capture",
        enabled=True,
        passwords=[f"+{PASSWORD}"],
        keys=["*"],
        commands=["-@all", "+@read", "+scan", "+ping", "+info"],
    )
    return server.url.replace("redis://", f"redis://capture:{PASSWORD}@")


@pytest.fixture(scope="module")
def source() -> Iterator[tuple[Server, str]]:
    """A "production" server: golden 1.4's data, foreign shapes, an unrelated key,
    and a read-only ACL user; yields the server and that user's URL."""
    with default_spec().start() as server:
        golden = {str(g.version): g for g in find_goldens(REPO / "golden")}["1.4"]
        restore_dump(golden.dump, server.client)
        write_foreign_scenario(server.client)
        server.client.set(b"cache:unrelated", b"not chat memory")
        yield server, read_only_url(server)


def take(url: str, **kwargs: Any) -> Capture:
    kwargs.setdefault("sample", 1000)
    return capture(url, PATTERNS, clock=CLOCK, **kwargs)


def test_capture_is_read_only_and_says_where_and_when(source: tuple[Server, str]) -> None:
    server, url = source
    before = encode_dump(dump_keyspace(server.client))
    with pytest.raises(redis.exceptions.NoPermissionError):  # the user really cannot write
        redis.Redis.from_url(url).set(b"probe", b"x")
    taken = take(url, sample=10)
    assert encode_dump(dump_keyspace(server.client)) == before
    p = taken.provenance
    assert p.source.url == url.replace(PASSWORD, "***") and p.source.product in ("redis", "valkey")
    assert p.captured_at == "2025-01-02T03:04:05+00:00"
    assert (p.sample, p.groups_captured, p.patterns) == (10, 10, PATTERNS)
    assert p.groups_seen > 150 and p.keys_captured >= 10
    assert p.report.strings_redacted > 10 and p.report.keys_renamed >= 10
    assert PASSWORD not in p.encode().decode()
    assert all(key_text(e.key) != "cache:unrelated" for e in taken.dump.keys)


def test_capture_is_deterministic_and_the_seed_picks_the_sample(source: tuple[Server, str]) -> None:
    _, url = source
    a, b = take(url, sample=10, seed="one"), take(url, sample=10, seed="one")
    assert encode_dump(a.dump) == encode_dump(b.dump)
    other = take(url, sample=10, seed="two")
    assert encode_dump(other.dump) != encode_dump(a.dump)
    secret = take(url, sample=10, seed="one", redaction_key=b"k" * 32)
    assert secret.provenance.redaction_key == "secret (not recorded)"
    assert len(secret.dump.keys) == len(a.dump.keys) and secret.dump != a.dump


def original_texts(view: dict[str, Any]) -> set[str]:
    """Every free-text string of the source: session ids, contents, metadata and
    tool-call strings (of 4+ characters with a letter or digit: shorter ones occur
    anywhere by chance)."""
    out: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, str):
            if len(x) >= 4 and any(c.isalnum() for c in x) and x not in ("user", "tool"):
                out.add(x)
        elif isinstance(x, dict):
            for k, v in x.items():
                if k not in ("role", "timestamp"):
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for sid, messages in view["sessions"].items():
        walk(sid)
        walk(messages)
    return out


def test_no_original_free_text_is_left(source: tuple[Server, str]) -> None:
    """Texts of 8+ characters are absent from every captured byte (keys, records,
    however encoded); shorter ones are no captured string value (as substrings,
    four letters recur by chance in 100 KB of redacted text)."""
    server, url = source
    texts = original_texts(golden_view(server.client))
    assert len(texts) > 100
    taken = take(url)
    blob = b"\n".join(value_bytes(e.key) + b"\n" + b"\n".join(_values(e)) for e in taken.dump.keys)
    leaked = []
    for t in (t for t in texts if len(t) >= 8):
        forms = {t, json.dumps(t)[1:-1], json.dumps(t, ensure_ascii=False)[1:-1]}
        for form in forms:
            pieces = [form] if len(form) < 200 else [form[:100], form[-100:]]
            if any(p.encode() in blob for p in pieces):
                leaked.append(t[:60])
    assert leaked == []
    with default_spec().start() as fresh:
        restore_dump(taken.dump, fresh.client)
        captured = original_texts(golden_view(fresh.client))
    assert captured and captured.isdisjoint(texts)


def _values(entry: Any) -> list[bytes]:
    out: list[bytes] = []
    for v in entry.value if isinstance(entry.value, list) else [entry.value]:
        items = v if isinstance(v, tuple) else getattr(v, "fields", [v])
        out += [value_bytes(x) for x in items if not isinstance(x, (int, float))]
    return out


def shape(m: dict[str, Any]) -> tuple[Any, ...]:
    c = m["content"]
    return (
        m["role"],
        len(c),
        len(c.encode()),
        c[:1].isspace(),
        c[-1:].isspace(),
        unicodedata.is_normalized("NFC", c),
        m["timestamp"],
        tuple(sorted(m.get("metadata", {}))),
        len(m.get("tool_calls", [])),
    )


def test_the_capture_restores_and_views_like_recorded_data(source: tuple[Server, str]) -> None:
    server, url = source
    taken = take(url)
    original = golden_view(server.client)["sessions"]
    with default_spec().start() as fresh:
        restore_dump(taken.dump, fresh.client)
        captured = golden_view(fresh.client)["sessions"]  # every record decodes
    assert len(captured) == len(original) == taken.provenance.groups_captured
    assert set(captured).isdisjoint(set(original) - {"timeline"})  # ids redacted
    # Shapes kept message for message: lengths in chars and bytes, edge whitespace,
    # normalization form, role, time, metadata keys, tool calls.
    assert Counter(shape(m) for ms in captured.values() for m in ms) == Counter(
        shape(m) for ms in original.values() for m in ms
    )


def test_capture_errors_are_one_line(source: tuple[Server, str]) -> None:
    server, url = source
    with pytest.raises(GoldenError, match=r"no key matches nothing:\*"):
        capture(url, ["nothing:*"])
    wrong = server.url.replace("redis://", "redis://capture:wrong-pw@")
    with pytest.raises(GoldenError) as err:
        capture(wrong, PATTERNS)
    assert "wrong-pw" not in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(GoldenError, match="not a Redis URL"):
        capture("http://example.invalid", PATTERNS)
    with pytest.raises(GoldenError, match="key patterns"):
        capture(url, [])


# -- redaction ----------------------------------------------------------------------


def test_text_keeps_the_shape_and_changes_every_letter_and_digit() -> None:
    r = Redactor(b"key")
    for s in [
        "  Hello, World 42!\n",
        "日本語のテキスト 한국어",
        unicodedata.normalize("NFD", "café naïve"),
        "emoji 🤖👩‍👩‍👧 𝔘𝔫𝔦 ∀x∈ℝ",  # noqa: RUF001
    ]:
        out = r.text(s)
        assert len(out) == len(s) and len(out.encode()) == len(s.encode())
        for a, b in zip(s, out, strict=True):
            assert unicodedata.category(a) == unicodedata.category(b)
            assert (a == b) == (not a.isalnum())
        assert r.text(s) == out and Redactor(b"other").text(s) != out


def test_json_keeps_structure_keys_spacing_and_escapes() -> None:
    r = Redactor(b"key", RedactionRules(numbers=True))
    raw = json.dumps(
        {"role": "user", "content": "Où est-ce? 東京", "timestamp": 1700000123.123456, "n": 42}
    ).encode()
    out = r.value(raw).decode()
    assert out.startswith('{"role": "user", "content": "') and out.isascii()
    parsed = json.loads(out)
    assert list(parsed) == ["role", "content", "timestamp", "n"]
    assert parsed["content"] != "Où est-ce? 東京" and len(parsed["content"]) == len(
        "Où est-ce? 東京"
    )
    assert len(str(parsed["timestamp"])) == len("1700000123.123456") and 10 <= parsed["n"] <= 99


def test_msgpack_keeps_structure_and_version_tags() -> None:
    r = Redactor(b"key")
    raw = msgspec.msgpack.encode(["1.4", "a1b2", 2, "secret text", 1700000123456, {"m": "x1"}])
    out = msgspec.msgpack.decode(r.value(raw))
    assert out[0] == "1.4" and out[2:5:2] == [2, 1700000123456]
    assert out[3] != "secret text" and len(out[3]) == 11 and list(out[5]) == ["m"]


def test_hash_tag_groups_a_session_with_its_companions() -> None:
    assert hash_tag(b"{session:a:messages}:ids") == hash_tag(b"session:a:messages")
    assert hash_tag(b"{u1}:ids:session:{u1}x:messages") == hash_tag(b"session:{u1}x:messages")


# -- `memfix capture` on the example app ---------------------------------------------

EXAMPLE = REPO / "examples" / "chatapp"
#: What a chat app's users really write: names, contact details, plans.
CONVERSATIONS = {
    "maria.gonzalez@example.com": [
        ("system", "You are Wanderly, a travel assistant. Be concise."),
        ("user", "Hi, I'm Maria Gonzalez. Book me a room in Lisbon from 12 to 15 June."),
        ("assistant", "Found Hotel Avenida Palace, 3 nights, 412 EUR. Shall I reserve it?"),
        ("user", "Yes please, card ending 4242, call me on +351 912 345 678 if needed."),
        ("assistant", "Reserved: confirmation LIS-88231. A receipt is on its way to you."),
    ],
    "kenji_tanaka_77": [
        ("user", "Kenji here: my flight JL407 to Frankfurt was cancelled, what now?"),
        ("assistant", "Lufthansa LH717 leaves Haneda at 11:50 tomorrow with seats left."),
        ("user", "  Rebook me on it, aisle seat, and note my gluten allergy.  "),
    ],
    "dr.okafor": [
        ("user", "Summarise the discharge note for patient Adaeze Nwosu, ward 4B."),
        ("assistant", "Adaeze Nwosu, 54, discharged after a mild stroke; follow-up in May."),
    ],
}


@pytest.fixture
def chatapp_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/chatapp with a second golden set for captures."""
    root = tmp_path / "chatapp"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    with (root / "pyproject.toml").open("a") as f:
        f.write(
            '\n[tool.memfix.sets.chat-prod]\nformat = "chatapp.golden_format:FORMAT"\n'
            'dir = "golden/chat-prod"\n'
        )
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "chatapp" or m.startswith("chatapp.")]:
        monkeypatch.delitem(sys.modules, name)
    return root


def test_memfix_capture_of_the_example_app_verifies_with_no_original_text(
    chatapp_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example app's own store writes real-looking data into a live server; `memfix
    capture` (the example's format, a read-only user) makes a golden of it that pytest
    snapshots and `memfix verify` passes, holding none of the original free text."""
    from chatapp.store import (  # type: ignore[import-not-found]  # the example, on sys.path here
        ChatMemory,
        ChatMessage,
    )

    spec = default_spec()
    with spec.start() as source:
        memory = ChatMemory(source.client)
        for i, (user, turns) in enumerate(CONVERSATIONS.items()):
            for j, (role, text) in enumerate(turns):
                memory.append(user, ChatMessage(role, text, 1_718_000_000.25 + 100 * i + j))
        url = read_only_url(source)
        before = encode_dump(dump_keyspace(source.client))
        monkeypatch.setenv("MEMFIX_REDACTION_KEY", "a-secret-only-ci-knows")
        args = ["capture", "--url", url, "--set", "chat-prod", "--sample", "10"]
        result = CliRunner().invoke(
            main, [*args, "--seed", "s1", "--version", "0.3", "--server", spec.id, "-q"]
        )
        assert result.exit_code == 0, result.output
        assert encode_dump(dump_keyspace(source.client)) == before  # nothing written
    out = result.output
    assert PASSWORD not in out and "capture:***@" in out
    assert out.startswith("captured golden chat-prod 0.3 into golden/chat-prod/0.3/ from ")
    assert "sample:    3 of 3 sessions" in out and "secret, from $MEMFIX_REDACTION_KEY" in out

    golden = chatapp_project / "golden" / "chat-prod" / "0.3"
    assert sorted(p.name for p in golden.iterdir()) == [
        "capture.json",
        "dump.json",
        "dump.rdb",
        "manifest.json",
    ]
    manifest = (golden / "manifest.json").read_text()
    blob = (golden / "dump.json").read_text() + (golden / "capture.json").read_text()
    for secret in (PASSWORD, "a-secret-only-ci-knows", *CONVERSATIONS):
        assert secret not in blob and secret not in manifest
    words = {
        w
        for user, turns in CONVERSATIONS.items()
        for text in [user, *(t for _, t in turns)]
        for w in re.findall(r"[^\W_]{4,}", text)
    } - {"user", "system", "assistant", "chat"}
    leaked = sorted(w for w in words if w in blob or json.dumps(w)[1:-1] in blob)
    assert leaked == [], leaked

    # Captured goldens snapshot like recorded ones (the plugin, --snapshot-update) and verify.
    pytest_run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--snapshot-update",
            "--memfix-set",
            "chat-prod",
            "--memfix-server",
            spec.id,
            "tests/test_goldens.py",
        ],
        cwd=chatapp_project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pytest_run.returncode == 0, pytest_run.stdout[-3000:]
    assert "2 passed, 1 skipped" in pytest_run.stdout  # rdb, json; the write side: captured
    snapshot = chatapp_project / "tests/__snapshots__/test_goldens/chat-prod-0.3.json"
    view = json.loads(snapshot.read_text())
    assert len(view["sessions"]) == 3 and not any(w in snapshot.read_text() for w in words)
    verify = CliRunner().invoke(main, ["verify", "--set", "chat-prod", "--server", spec.id, "-q"])
    assert verify.exit_code == 0, verify.output
    assert verify.output.count(" ok ") == 4  # files, json, rdb, meaning
    assert "captured from a server, not recorded: no scenario to replay" in verify.output
    again = CliRunner().invoke(main, [*args, "--seed", "s1", "--version", "0.3"])
    assert again.exit_code == 1 and "already exists: goldens are immutable" in again.output
