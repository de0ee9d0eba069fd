"""Deterministic, shape-keeping redaction of captured chat memory.

A captured golden must hold none of the original free text, yet break a reader
exactly where the original would: so every letter and digit is replaced by
another of the same unicode category, script and UTF-8 length (the value keeps
its length in characters and bytes, its words, whitespace, punctuation,
combining marks, emoji and escapes), JSON keeps its structure, keys, spacing,
escape style and number literals, msgpack its structure and types.

The replacement of a string is a function of the string and a key (HMAC), so
equal strings stay equal (a tool call id and the answer that names it, a
message id in a record and in the id set) and two captures with the same key
are byte-identical. Keep the key secret when the data matters: with a known
key, a guessed original can be confirmed.

What stays verbatim, by rule (all counted in the report): object keys and hash
fields (structure), values of ``keep_fields`` (``"role"``, ``"v"``...), the
words in ``keep_values`` (role names), version tags such as ``"1.4"``, and
characters that are not letters or digits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import msgspec

__all__ = ["RedactionReport", "RedactionRules", "Redactor"]


class RedactionRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What is redacted and what is kept (recorded in the capture's provenance)."""

    keep_fields: tuple[str, ...] = ("v", "role", "type", "version", "kind")
    keep_values: tuple[str, ...] = (
        "system",
        "user",
        "assistant",
        "tool",
        "human",
        "ai",
        "function",
        "developer",
    )
    keep_version_tags: bool = True  # strings like "1.4" (a record's schema tag)
    numbers: bool = False  # redact JSON/msgpack numbers too, keeping digits and decimals
    session_ids: bool = True  # redact the ids in key names (a user id is often one)


class RedactionReport(msgspec.Struct, kw_only=True):
    """How much was redacted: what a reviewer checks before committing a capture."""

    values: int = 0
    values_changed: int = 0
    json_values: int = 0
    msgpack_values: int = 0
    text_values: int = 0
    opaque_values: int = 0  # neither UTF-8 nor msgpack: replaced by bytes of the same length
    strings_redacted: int = 0
    kept_by_rule: dict[str, int] = msgspec.field(default_factory=dict)
    fields_kept: int = 0  # object keys and hash fields (structure)
    numbers_redacted: int = 0
    keys_renamed: int = 0


_VERSION_TAG = re.compile(r"^\d+\.\d+(\.\d+)?$")
_WORD = re.compile(r"\w+")


class Redactor:
    """Redacts strings, stored values and key names with one key and rule set."""

    def __init__(self, key: bytes, rules: RedactionRules | None = None) -> None:
        self._key = key
        self.rules = rules or RedactionRules()
        self.report = RedactionReport()
        self._keep_values = frozenset(self.rules.keep_values)
        self._keep_fields = frozenset(self.rules.keep_fields)

    # -- strings ---------------------------------------------------------------

    def text(self, s: str, *, attempt: int = 0) -> str:
        """``s`` with every letter and digit replaced by another of the same category,
        script and UTF-8 length; everything else kept. Deterministic per (key, s,
        attempt); another ``attempt`` draws another replacement."""
        if not any(c.isalnum() for c in s):
            return s
        salt = f"{attempt}:".encode() if attempt else b""
        digest = hmac.new(self._key, salt + s.encode("utf-8", "surrogatepass"), hashlib.sha256)
        rng = random.Random(digest.digest())
        out = []
        for c in s:
            if unicodedata.category(c)[0] in "LN":
                pool = _pool(c)
                out.append(pool[rng.randrange(len(pool))] if pool else c)
            else:
                out.append(c)
        return "".join(out)

    def _string(self, s: str, field: str | None) -> str:
        rule = self._kept_by(s, field)
        if rule is not None:
            self.report.kept_by_rule[rule] = self.report.kept_by_rule.get(rule, 0) + 1
            return s
        nested = _json_text(s)
        if nested is not None:  # a JSON document in a string (tool arguments, answers)
            return self._json(s)
        self.report.strings_redacted += 1
        return self.text(s)

    def _kept_by(self, s: str, field: str | None) -> str | None:
        if field is not None and field in self._keep_fields:
            return f"field {field}"
        if s in self._keep_values:
            return "value"
        if self.rules.keep_version_tags and _VERSION_TAG.match(s):
            return "version tag"
        if not any(c.isalnum() for c in s):
            return "no letters or digits"
        return None

    def _number(self, literal: str) -> str:
        """Digits replaced, sign, decimal point, exponent and digit count kept."""
        if not self.rules.numbers:
            return literal
        self.report.numbers_redacted += 1
        rng = random.Random(hmac.new(self._key, literal.encode(), hashlib.sha256).digest())
        out, leading = [], True
        for c in literal:
            if c.isdigit():
                lo = 1 if leading and len(literal) > 1 else 0
                out.append(str(rng.randint(lo, 9)))
                leading = False
            else:
                out.append(c)
                if c in "eE":
                    leading = True
        return "".join(out)

    # -- stored values -----------------------------------------------------------

    def value(self, raw: bytes, *, field: str | None = None) -> bytes:
        """One stored value (a list element, a string, a hash value, a set member)."""
        self.report.values += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            if _json_text(text) is not None:
                self.report.json_values += 1
                out = self._json(text).encode("utf-8")
            else:
                self.report.text_values += 1
                out = self._string(text, field).encode("utf-8")
        elif raw[:1] and (0x80 <= raw[0] <= 0x9F or 0xDC <= raw[0] <= 0xDF):
            try:
                decoded = msgspec.msgpack.decode(raw)
            except msgspec.DecodeError:
                out = self._opaque(raw)
            else:
                self.report.msgpack_values += 1
                out = msgspec.msgpack.encode(self._walk(decoded, field))
        else:
            out = self._opaque(raw)
        if out != raw:
            self.report.values_changed += 1
        return out

    def _opaque(self, raw: bytes) -> bytes:
        self.report.opaque_values += 1
        stream = hmac.new(self._key, raw, hashlib.sha256).digest()
        while len(stream) < len(raw):
            stream += hashlib.sha256(stream).digest()
        return stream[: len(raw)]

    def _walk(self, obj: Any, field: str | None) -> Any:
        if isinstance(obj, str):
            return self._string(obj, field)
        if isinstance(obj, bytes):
            return self._opaque(obj)
        if isinstance(obj, dict):
            self.report.fields_kept += len(obj)
            return {k: self._walk(v, k if isinstance(k, str) else None) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._walk(v, field) for v in obj]
        if isinstance(obj, bool) or obj is None:
            return obj
        if isinstance(obj, (int, float)) and self.rules.numbers:
            literal = self._number(repr(obj))
            return type(obj)(literal)
        return obj

    def _json(self, text: str) -> str:
        """JSON text with its value strings redacted, byte layout otherwise kept:
        whitespace, key order, escapes (``\\u`` or raw UTF-8), number literals."""
        out: list[str] = []
        stack: list[tuple[str, str | None]] = []  # (container, field of its current value)
        expect_key = False
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c == '"':
                j = _string_end(text, i)
                literal = text[i : j + 1]
                decoded = json.loads(literal)
                if stack and stack[-1][0] == "{" and expect_key:
                    stack[-1] = ("{", decoded)
                    self.report.fields_kept += 1
                    out.append(literal)
                    expect_key = False
                else:
                    field = stack[-1][1] if stack else None
                    redacted = self._string(decoded, field)
                    out.append(
                        literal
                        if redacted == decoded
                        else json.dumps(redacted, ensure_ascii=literal.isascii())
                    )
                i = j + 1
                continue
            if c in "{[":
                stack.append((c, stack[-1][1] if stack and c == "[" else None))
                expect_key = c == "{"
            elif c in "}]":
                stack.pop()
            elif c == ",":
                expect_key = bool(stack) and stack[-1][0] == "{"
            elif c == "-" or c.isdigit():
                j = i
                while j < n and text[j] in "+-0123456789.eE":
                    j += 1
                out.append(self._number(text[i:j]))
                i = j
                continue
            out.append(c)
            i += 1
        return "".join(out)

    # -- key names -----------------------------------------------------------------

    def key_renamer(self, ids: Iterable[str], literals: Iterable[str]) -> Callable[[bytes], bytes]:
        """A function renaming the words of ``ids`` (session ids) in any key name,
        consistently, so a session's companion keys keep naming the same session;
        words of the patterns' literal text (``session``, ``messages``) stay."""
        if not self.rules.session_ids:
            return lambda key: key
        fixed = {w for lit in literals for w in _WORD.findall(lit)}
        words = {w for i in ids for w in _WORD.findall(i)} - fixed
        mapping: dict[str, str] = {}
        used = set(fixed)
        for w in sorted(words):  # one-to-one: two sessions never merge into one key
            attempt, new = 0, self.text(w)
            while new in used and attempt < 100:
                attempt += 1
                new = self.text(w, attempt=attempt)
            if new in used:  # a word too short to have enough stand-ins: keep it distinct
                new = w
            mapping[w] = new
            used.add(new)

        def rename(key: bytes) -> bytes:
            text = key.decode("utf-8", "surrogateescape")
            renamed = _WORD.sub(lambda m: mapping.get(m.group(), m.group()), text)
            if renamed != text:
                self.report.keys_renamed += 1
            return renamed.encode("utf-8", "surrogateescape")

        return rename


def _json_text(text: str) -> Any:
    """The parsed document when ``text`` is a JSON object or array, else ``None``."""
    head = text.lstrip()[:1]
    if head not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _string_end(text: str, start: int) -> int:
    i = start + 1
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i


@lru_cache(maxsize=4096)
def _pool(c: str) -> tuple[str, ...]:
    """Characters that can stand in for ``c``: same category, same script (the first
    word of the unicode name), same UTF-8 length, nearby code points; never ``c``."""
    cat = unicodedata.category(c)
    script = unicodedata.name(c, "").split(" ")[0]
    width = len(c.encode("utf-8", "surrogatepass"))
    cp = ord(c)
    lo, hi = max(0, cp - 512), min(0x10FFFF, cp + 512)
    return tuple(
        ch
        for ch in map(chr, range(lo, hi + 1))
        if ch != c
        and unicodedata.category(ch) == cat
        and unicodedata.name(ch, "").split(" ")[0] == script
        and len(ch.encode("utf-8", "surrogatepass")) == width
    )
