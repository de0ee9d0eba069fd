"""``memfix capture``: a redacted sample of real data, as a golden's keyspace dump.

Goldens recorded by a project's own scenario only hold shapes its writer
produces today; production holds what every earlier writer produced. Capture
reads a sample of the real keys and redacts it (:mod:`memfix.goldens.redact`)
so it can be committed and replayed like a recorded golden.

Safety, by construction:

- read-only: SCAN (with the set's key patterns), TYPE, PTTL and the type's
  read command (GET, LRANGE, HGETALL, SMEMBERS, ZRANGE, XRANGE), plus INFO
  for provenance. It works as a Redis ACL user allowed only ``+@read``, and
  on a replica (capture from one, never from the primary);
- a sample: whole hash-tag groups (a session's key and its ``{...}``
  companion keys share one; the rule that keeps them in one cluster slot),
  ranked by a seeded hash, so the same seed picks the same sessions, and
  memory stays bounded by the sample size however large the keyspace;
- a production TTL (a session expiring in a day) is kept as "expires" with a
  TTL of :data:`memfix.formats.SCENARIO_TTL`: ``dump.rdb`` stores absolute
  expiry, and a golden must not lose the key when the day has passed;
- redaction before anything leaves this function; the provenance says where
  (the URL with its password redacted), when, which patterns, sample and seed,
  the rules, and how much was redacted (the report a reviewer reads).

:func:`capture_golden` turns a capture into a golden of a set, as ``record``
does (one lock per goldens directory, a staging directory renamed into place,
never over an existing golden), with the provenance as its ``capture.json``.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import redis

import memfix
from memfix.errors import GoldenError
from memfix.formats import SCENARIO_TTL, Version
from memfix.goldens.dump import (
    DUMP_FORMAT,
    Base64,
    Entry,
    HashEntry,
    KeyspaceDump,
    ListEntry,
    SetEntry,
    StreamEntry,
    StreamItem,
    StringEntry,
    ZSetEntry,
    dump_keys,
    restore_dump,
    value_bytes,
)
from memfix.goldens.golden import Golden
from memfix.goldens.jsonfile import encode_canonical
from memfix.goldens.manifest import ScenarioInfo
from memfix.goldens.record import locked_goldens, write_golden
from memfix.goldens.redact import RedactionReport, RedactionRules, Redactor
from memfix.goldens.sets import GoldenSet
from memfix.servers import ServerSpec, default_spec, redact_url

__all__ = [
    "CAPTURE_FORMAT",
    "Capture",
    "CaptureProvenance",
    "CapturedServer",
    "capture",
    "capture_golden",
    "hash_tag",
]

CAPTURE_FORMAT = "memfix-capture/1"


class CapturedServer(msgspec.Struct, forbid_unknown_fields=True):
    url: str  # password redacted
    product: str
    version: str


class CaptureProvenance(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where, when and how a capture was taken (committed next to its dump)."""

    format: str = CAPTURE_FORMAT
    memfix_version: str
    source: CapturedServer
    captured_at: str  # ISO 8601, UTC
    patterns: list[str]
    sample: int  # hash-tag groups (sessions) asked for
    seed: str
    groups_seen: int  # groups matching the patterns
    groups_captured: int
    keys_captured: int
    redaction_key: str  # "derived from the seed" or "secret (not recorded)"
    rules: RedactionRules
    report: RedactionReport

    def encode(self) -> bytes:
        return encode_canonical(self)


@dataclass(frozen=True)
class Capture:
    dump: KeyspaceDump
    provenance: CaptureProvenance


def capture(
    source: str | redis.Redis,
    patterns: Sequence[str],
    *,
    sample: int = 100,
    seed: str = "memfix-capture",
    rules: RedactionRules | None = None,
    redaction_key: bytes | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Capture:
    """Capture and redact up to ``sample`` sessions (hash-tag groups) whose keys
    match ``patterns`` (the golden set's key patterns; the first one names the
    sessions: its wildcards are the session ids redacted in key names).

    Raises GoldenError (one line, password redacted) for a bad URL, a server
    that refuses, no patterns, or no key matching them.
    """
    if not patterns:
        raise GoldenError("capture needs the golden set's key patterns (none given)")
    if sample <= 0:
        raise GoldenError(f"sample must be a positive number of sessions, got {sample}")
    url, client, owned = _connect(source)
    try:
        product, version = _server_identity(client, url)
        groups, seen = _sample(client, patterns, sample, seed, url)
        keys = [k for g in groups.values() for k in g]
        raw = dump_keys(client, keys)
    except redis.RedisError as exc:
        raise GoldenError(f"{url}: capture failed: {exc}") from None
    finally:
        if owned:
            client.close()
    if not raw.keys:
        raise GoldenError(
            f"{url}: no key matches {', '.join(patterns)} (nothing to capture; check the patterns)"
        )
    secret = redaction_key is not None
    redactor = Redactor(
        redaction_key or hashlib.sha256(f"memfix-redact:{seed}".encode()).digest(), rules
    )
    dump = _redacted(raw, redactor, patterns)
    when = (clock or (lambda: datetime.now(timezone.utc)))()
    provenance = CaptureProvenance(
        memfix_version=memfix.__version__,
        source=CapturedServer(url=url, product=product, version=version),
        captured_at=when.astimezone(timezone.utc).isoformat(timespec="seconds"),
        patterns=list(patterns),
        sample=sample,
        seed=seed,
        groups_seen=seen,
        groups_captured=len(groups),
        keys_captured=len(dump.keys),
        redaction_key="secret (not recorded)" if secret else "derived from the seed",
        rules=redactor.rules,
        report=redactor.report,
    )
    return Capture(dump, provenance)


def capture_golden(
    source: str,
    golden_set: GoldenSet,
    version: str | Version,
    *,
    sample: int,
    seed: str,
    redaction_key: bytes | None = None,
    spec: ServerSpec | None = None,
    progress: Callable[[str], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> tuple[Golden, CaptureProvenance]:
    """Capture a redacted sample of ``source`` (the set's key patterns) into the golden
    ``<set dir>/<version>/``: the dump restored into a fresh server (``spec``) that
    writes ``dump.rdb``; ``capture.json`` holds the provenance and redaction report."""
    say = progress or (lambda _: None)
    wanted = Version.parse(version)
    target = golden_set.root / str(wanted)
    fmt = golden_set.format
    _refuse_existing(target)
    say(f"capturing a sample of {sample} sessions ({', '.join(fmt.key_patterns)})")
    taken = capture(
        source,
        fmt.key_patterns,
        sample=sample,
        seed=seed,
        redaction_key=redaction_key,
        clock=clock,
    )
    p = taken.provenance
    scenario = ScenarioInfo(
        name="capture",
        seed=seed,
        previous_golden=None,
        description=(
            f"captured from {p.source.url} ({p.source.product} {p.source.version}) at "
            f"{p.captured_at}: {p.groups_captured} of {p.groups_seen} sessions, redacted "
            "(see capture.json)"
        ),
    )
    spec = spec or default_spec()
    with locked_goldens(golden_set.root, say):
        _refuse_existing(target)
        say(f"writing the golden on {spec.id}")
        with spec.start() as server:
            restore_dump(taken.dump, server.client)
            golden = write_golden(
                server,
                target,
                scenario=scenario,
                fmt=fmt,
                golden_set=golden_set.name,
                version=wanted,
                extra={"capture.json": p.encode()},
            )
    return golden, p


def _refuse_existing(target: Path) -> None:
    if target.exists() or target.is_symlink():
        raise GoldenError(
            f"{target} already exists: goldens are immutable; capture into another "
            "version or golden set"
        )


def _connect(source: str | redis.Redis) -> tuple[str, redis.Redis, bool]:
    if isinstance(source, redis.Redis):
        kwargs = source.get_connection_kwargs()
        where = f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
        return where, source, False
    url = redact_url(source)
    try:
        client = redis.Redis.from_url(source, decode_responses=False, socket_connect_timeout=5)
    except ValueError as exc:
        raise GoldenError(f"{url}: not a Redis URL: {exc}") from None
    return url, client, True


def _server_identity(client: redis.Redis, url: str) -> tuple[str, str]:
    try:
        info: dict[str, Any] = client.info("server")
    except redis.RedisError as exc:
        raise GoldenError(f"{url}: cannot read from the server: {exc}") from None
    if "valkey_version" in info:
        return "valkey", str(info["valkey_version"])
    return "redis", str(info.get("redis_version", "unknown"))


def hash_tag(key: bytes) -> bytes:
    """What Redis Cluster hashes for ``key``: the first non-empty ``{...}``, else the key."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def _sample(
    client: redis.Redis, patterns: Sequence[str], sample: int, seed: str, url: str
) -> tuple[dict[bytes, set[bytes]], int]:
    """The ``sample`` groups of smallest seeded rank, and how many groups matched."""
    salt = seed.encode("utf-8") + b"\0"
    kept: dict[bytes, set[bytes]] = {}
    heap: list[tuple[bytes, bytes]] = []  # (inverted rank, group): the worst kept on top
    seen: set[bytes] = set()
    for pattern in patterns:
        for key in client.scan_iter(match=pattern, count=1000):
            group = hash_tag(key)
            seen.add(hashlib.sha256(group).digest()[:8])  # bounded, for the count only
            if group in kept:
                kept[group].add(key)
                continue
            rank = hashlib.sha256(salt + group).digest()
            if len(kept) < sample:
                kept[group] = {key}
                heapq.heappush(heap, (_invert(rank), group))
            elif rank < _invert(heap[0][0]):
                _, dropped = heapq.heapreplace(heap, (_invert(rank), group))
                del kept[dropped]
                kept[group] = {key}
    return kept, len(seen)


def _invert(rank: bytes) -> bytes:
    return bytes(255 - b for b in rank)


def _lasting(ttl: int | None) -> int | None:
    """A captured key still expires, but not while the golden is in use."""
    return None if ttl is None else max(ttl, SCENARIO_TTL)


def _redacted(dump: KeyspaceDump, redactor: Redactor, patterns: Sequence[str]) -> KeyspaceDump:
    ids, literals = _session_ids(dump, patterns[0])
    rename = redactor.key_renamer(ids, literals + list(patterns[1:]))
    v = redactor.value
    entries: list[Entry] = []
    for e in dump.keys:
        key = _enc(rename(value_bytes(e.key)))
        ttl = _lasting(e.ttl)
        new: Entry
        if isinstance(e, StringEntry):
            new = StringEntry(key=key, ttl=ttl, value=_enc(v(value_bytes(e.value))))
        elif isinstance(e, ListEntry):
            new = ListEntry(key=key, ttl=ttl, value=[_enc(v(value_bytes(x))) for x in e.value])
        elif isinstance(e, SetEntry):
            members = sorted(v(value_bytes(x)) for x in e.value)
            new = SetEntry(key=key, ttl=ttl, value=[_enc(m) for m in members])
        elif isinstance(e, HashEntry):
            redactor.report.fields_kept += len(e.value)
            pairs = [
                (f, _enc(v(value_bytes(x), field=_text(f)))) for f, x in e.value
            ]  # fields are structure
            new = HashEntry(key=key, ttl=ttl, value=pairs)
        elif isinstance(e, ZSetEntry):
            scored = sorted((float(s), v(value_bytes(m)), s) for m, s in e.value)
            new = ZSetEntry(key=key, ttl=ttl, value=[(_enc(m), s) for _, m, s in scored])
        else:
            assert isinstance(e, StreamEntry)
            items = [
                StreamItem(
                    id=item.id,
                    fields=[
                        x if i % 2 == 0 else _enc(v(value_bytes(x)))
                        for i, x in enumerate(item.fields)
                    ],
                )
                for item in e.value
            ]
            new = StreamEntry(key=key, ttl=ttl, value=items)
        entries.append(new)
    entries.sort(key=lambda e: value_bytes(e.key))
    return KeyspaceDump(DUMP_FORMAT, entries)


def _session_ids(dump: KeyspaceDump, pattern: str) -> tuple[list[str], list[str]]:
    """The session ids (what the first pattern's wildcards match) and its literal text."""
    literals = [p for p in re.split(r"\*|\?|\[[^\]]*\]", pattern.replace("\\", "")) if p]
    regex = re.compile(
        "".join(
            "(.*)" if part == "*" else "(.)" if part == "?" else re.escape(part)
            for part in re.split(r"(\*|\?)", pattern.replace("\\", ""))
        ),
        re.DOTALL,
    )
    ids = []
    for e in dump.keys:
        match = regex.fullmatch(value_bytes(e.key).decode("utf-8", "surrogateescape"))
        if match:
            ids += [g for g in match.groups() if g]
    return ids, literals


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _enc(raw: bytes) -> str | Base64:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return Base64(raw)
