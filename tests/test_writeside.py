"""Write-side goldens on real servers: the current writer reproduces the committed
golden of the current version, and each kind of writer change fails with a line
naming the key (and index) and what changed.

The writer changes below are applied in-process to memfix's own write path
(the readers stay as they are), the way a PR would change it;
``tests/test_mutations.py`` applies the same classes of change to a copy of
the package's files.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from memfix import schemas
from memfix.errors import GoldenError
from memfix.formats.memfix import MEMFIX_FORMAT
from memfix.goldens import GoldenSet, load_config
from memfix.goldens.writeside import (
    WriteSideResult,
    check_set_write_side,
    check_write_side,
    describe_record_change,
    guess_encoding,
)
from memfix.model import Message
from memfix.store import _lua
from tests.test_record_verify import REPO

SET = load_config(REPO).choose("memfix")
CURRENT = schemas.CURRENT_VERSION
#: How the current version's record of a user's message starts (1.6: ``0x98 0xa4 "user"``).
USER_HEAD = next(
    h for h in schemas._record_heads(schemas.RELEASED[CURRENT].Record) if h.endswith(b"user")
)
PREVIOUS = list(schemas.RELEASED)[-2]


def check_current_write_side(golden_set: GoldenSet = SET) -> WriteSideResult:
    return check_set_write_side(golden_set)


def test_the_current_writer_reproduces_its_committed_golden() -> None:
    result = check_current_write_side()
    assert result.ok, result.report()
    assert result.golden == CURRENT and result.previous is not None
    assert result.records > 300 and result.sessions > 20  # it compared something real
    assert "records byte for byte" in result.summary()


def _normalised(transform: Callable[[str], str]) -> Callable[[pytest.MonkeyPatch], None]:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        encode = schemas.encode_message

        def writer(m: Message) -> bytes:
            return encode(msgspec.structs.replace(m, content=transform(m.content)))

        monkeypatch.setattr(schemas, "encode_message", writer)

    return apply


def _pickle_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        schemas, "encode_message", lambda m: pickle.dumps(msgspec.to_builtins(m), protocol=4)
    )


def _rename_the_written_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The append script writes under another key name (a "cleaner" layout)."""
    assert "KEYS[1]" in _lua.APPEND
    monkeypatch.setattr(_lua, "APPEND", _lua.APPEND.replace("KEYS[1]", "(KEYS[1] .. ':v2')"))


_PEXPIRE = re.compile(r"^ *redis\.call\('PEXPIRE', KEYS\[1\], ttl\)\n", re.MULTILINE)


def _drop_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    script, dropped = _PEXPIRE.subn("", _lua.APPEND)
    assert dropped == 2  # the single-record and the batch branch
    monkeypatch.setattr(_lua, "APPEND", script)


WRITER_CHANGES = {
    "pickle": (
        _pickle_writer,
        [
            "record now starts b'\\x80\\x04' (pickle?) where the golden has "
            f"{USER_HEAD!r} (msgpack)",
            "the current code cannot read what it just wrote: key 'session:timeline:messages' "
            "index ",
        ],
    ),
    "nfc-on-write": (
        _normalised(lambda s: unicodedata.normalize("NFC", s)),
        [
            f"key 'session:v{CURRENT}-unicode:messages' index 3: msgpack record differs from byte",
            f"session 'v{CURRENT}-unicode': message 3 field 'content' differs at char 11",
        ],
    ),
    "collapse-whitespace-on-write": (
        _normalised(lambda s: " ".join(s.split())),
        [f"session 'v{CURRENT}-unicode': message 4 field 'content'"],
    ),
    "truncate-on-write": (
        _normalised(lambda s: s[:60_000]),
        [
            f"key 'session:v{CURRENT}-large:messages' index 1: msgpack record differs from byte",
            f"session 'v{CURRENT}-large': message 1 field 'content' is now 60000 chars where the "
            "golden has 65536",
        ],
    ),
    "key-renamed-on-write": (
        _rename_the_written_key,
        [
            f"key 'session:v{CURRENT}-batch:messages' is now written as "
            f"'session:v{CURRENT}-batch:messages:v2'"
        ],
    ),
    "ttl-dropped": (
        _drop_the_ttl,
        [f"TTL no longer set on 'session:v{CURRENT}-ttl:messages'"],
    ),
}


@pytest.mark.parametrize("change", list(WRITER_CHANGES))
def test_a_writer_change_fails_naming_key_and_what_changed(
    change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply, expected = WRITER_CHANGES[change]
    apply(monkeypatch)
    result = check_current_write_side()
    assert not result.ok
    report = result.report()
    for line in expected:
        assert line in report, report
    assert len(result.lines) <= 21  # capped: one line per difference, then a count


def test_ttl_dropped_is_the_only_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    _drop_the_ttl(monkeypatch)
    result = check_current_write_side()
    assert result.lines == (f"TTL no longer set on 'session:v{CURRENT}-ttl:messages'",)


def test_without_byte_stability_only_keys_and_sessions_are_compared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A format that does not promise byte-stable output still fails on meaning."""
    _normalised(lambda s: " ".join(s.split()))(monkeypatch)
    goldens = {str(g.version): g for g in SET.goldens()}
    result = check_write_side(Unstable(), goldens[CURRENT], goldens[PREVIOUS])
    assert not result.ok and result.records == 0
    assert not any("record differs" in line for line in result.lines)
    assert any(line.startswith(f"session 'v{CURRENT}-unicode': message 4") for line in result.lines)


class Unstable:
    """memfix's format, without the promise of byte-stable output."""

    byte_stable = False

    def __getattr__(self, name: str) -> Any:
        return getattr(MEMFIX_FORMAT, name)


def test_the_wrong_previous_golden_fails() -> None:
    """Replayed over another golden than the one it was recorded over, the check must see it."""
    goldens = {str(g.version): g for g in SET.goldens()}
    result = check_write_side(SET.format, goldens[CURRENT], goldens["1.0"])
    assert not result.ok
    assert any("is no longer written" in line for line in result.lines), result.report()


def test_a_missing_golden_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GoldenError, match=rf"no golden {CURRENT} under .* \(have: none\)"):
        check_current_write_side(dataclasses.replace(SET, root=tmp_path))


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (pickle.dumps({"a": 1}, protocol=4), "pickle"),
        (b"\x99\xa31.4\xc0", "msgpack"),
        (b'{"role": "user"}', "JSON"),
        (b"  [1]", "JSON"),
        (b"x\x9c\x03\x00", "zlib"),
        (b"\x1f\x8b\x08", "gzip"),
        ("plain text é".encode(), "text"),
        (b"\xff\xfe", "binary"),
        (b"", "empty"),
    ],
)
def test_guess_encoding(raw: bytes, kind: str) -> None:
    assert guess_encoding(raw) == kind


def test_describe_record_change_points_at_the_first_differing_byte() -> None:
    line = describe_record_change(b'{"content": "cafe\\u0301"}', b'{"content": "caf\\u00e9"}')
    assert line.startswith("JSON record differs from byte 16: now")
