"""``memfix doctor URL``: is this live server configured to keep chat memory?

Strictly read-only: it sends only ``HELLO``, ``PING``, ``INFO`` and
``CONFIG GET``, so it is safe against production. Each check
becomes a :class:`Finding` (OK / WARN / FAIL / INFO with a one-line reason);
the three ways the seed article lost memory map onto them: a server restart
with weak persistence, eviction under memory pressure, and a server version
whose data format the committed goldens do not cover.

:func:`diagnose` raises :class:`DoctorError` only when it cannot talk to the
server at all (refused, timeout, auth); anything else it can observe, even a
disabled ``CONFIG`` command, is reported as a finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from memfix.errors import GoldenError, MemfixError
from memfix.goldens import find_goldens
from memfix.servers import redact_url
from memfix.servers.errors import ServerError
from memfix.servers.spec import RdbHeader, ServerSpec, rdb_header, server_identity

__all__ = ["DoctorError", "Finding", "Status", "diagnose", "exit_code", "render_findings"]

Status = Literal["OK", "WARN", "FAIL", "INFO"]

#: Fractions of maxmemory (or of system memory) that make headroom WARN / FAIL.
WARN_FULL = 0.75
FAIL_FULL = 0.90


class DoctorError(MemfixError):
    """The server could not be inspected at all (one line, URL without password)."""


@dataclass(frozen=True)
class Finding:
    """One check's verdict; ``reason`` is one line saying why."""

    check: str
    status: Status
    reason: str


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class _Config:
    """``CONFIG GET`` that remembers whether the command is available at all."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.error = ""

    def get(self, name: str) -> str | None:
        if self.error:
            return None
        try:
            reply: dict[Any, Any] = self._client.config_get(name)
        except redis.ResponseError as exc:  # renamed, disabled, or denied by an ACL
            self.error = str(exc).splitlines()[0]
            return None
        for key, value in reply.items():
            k = key.decode() if isinstance(key, bytes) else str(key)
            if k == name:
                return value.decode() if isinstance(value, bytes) else str(value)
        return None


def diagnose(url: str, *, goldens_root: Path | None = None, timeout: float = 5.0) -> list[Finding]:
    """Inspect the server at ``url`` and return one finding per check.

    ``goldens_root`` holds ``<version>/manifest.json`` goldens (default:
    ``./golden``); without any, the goldens check is INFO, not a warning.
    """
    try:
        client = redis.Redis.from_url(
            url,
            decode_responses=False,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            **_quiet_handshake(),
        )
    except ValueError as exc:  # a malformed URL, port or scheme
        raise DoctorError(f"{redact_url(url)}: not a Redis URL: {_one_line(exc)}") from None
    try:
        try:
            client.ping()
            server = client.info("server")
            persistence = client.info("persistence")
            memory = client.info("memory")
            stats = client.info("stats")
        except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError) as exc:
            raise DoctorError(f"cannot reach {redact_url(url)}: {_one_line(exc)}") from None
        except redis.ResponseError as exc:
            if "authenticated" in str(exc) or "NOAUTH" in str(exc):
                raise DoctorError(f"{redact_url(url)}: authentication required") from None
            raise DoctorError(f"{redact_url(url)} refused INFO: {_one_line(exc)}") from None
        except redis.RedisError as exc:  # e.g. not a Redis server at all
            raise DoctorError(
                f"{redact_url(url)}: not a usable Redis server: {_one_line(exc)}"
            ) from None
        config = _Config(client)
        findings = [
            *_server_findings(server, goldens_root or Path("golden")),
            _persistence(config, persistence),
            _persistence_health(persistence),
            _eviction(config, memory),
            _headroom(memory),
            _evictions(stats),
        ]
        if config.error:
            findings.append(
                Finding(
                    "config",
                    "WARN",
                    f"CONFIG GET unavailable ({config.error}); settings read from INFO where "
                    "it has them, the rest unknown",
                )
            )
        return findings
    finally:
        client.close()


def _quiet_handshake() -> dict[str, Any]:
    """Connection options that send only ``HELLO`` on connect, on redis-py 5 to 8.

    By default redis-py also sends ``CLIENT SETINFO`` and (8+) ``CLIENT
    MAINT_NOTIFICATIONS``: harmless metadata, but doctor promises to send
    nothing beyond what it needs to read.
    """
    try:
        from redis.driver_info import DriverInfo
        from redis.maint_notifications import MaintNotificationsConfig
    except ImportError:  # redis-py < 8
        return {"lib_name": None, "lib_version": None}
    return {
        "driver_info": DriverInfo(name=None, lib_version=None),
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
    }


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _server_findings(info: dict[str, Any], goldens_root: Path) -> list[Finding]:
    product, version, mode = server_identity(info)
    spec = ServerSpec(backend="existing", product=product, version=version)
    found = [
        Finding(
            "server",
            "INFO",
            f"{product} {version} ({mode}), writes RDB {spec.rdb_header}, loads up to "
            f"{spec.loads_up_to}",
        )
    ]
    return [*found, _goldens(spec, goldens_root)]


def _golden_headers(root: Path) -> list[tuple[str, str, RdbHeader]]:
    """(golden version, recording server, RDB header) of every golden under ``root``."""
    return [
        (
            str(g.version),
            f"{g.manifest.server.product} {g.manifest.server.version}",
            rdb_header(g.manifest.server.rdb_header.encode("ascii")),
        )
        for g in find_goldens(root)
    ]


def _goldens(spec: ServerSpec, root: Path) -> Finding:
    try:
        goldens = _golden_headers(root)
    except (GoldenError, ServerError) as exc:  # `memfix verify` says more; doctor notes it
        return Finding("goldens", "WARN", f"cannot read the goldens: {exc}")
    if not goldens:
        return Finding("goldens", "INFO", f"no goldens found under {root}/ (nothing to compare)")
    unloadable = [g for g in goldens if not spec.can_load(g[2])]
    if unloadable:
        name, recorded, header = unloadable[-1]
        return Finding(
            "goldens",
            "WARN",
            f"cannot load golden {name} (RDB {header}, recorded on {recorded}): this server "
            f"loads up to {spec.loads_up_to}; it is older than what memfix was verified on",
        )
    name, recorded, header = goldens[-1]
    newer = (
        ""
        if spec.rdb_header == header
        else f"; dumps it writes ({spec.rdb_header}) will not load on {recorded}"
    )
    return Finding(
        "goldens",
        "OK",
        f"loads all {len(goldens)} goldens (newest {name}: RDB {header} from {recorded}){newer}",
    )


def _persistence(config: _Config, info: dict[str, Any]) -> Finding:
    aof = config.get("appendonly")
    aof_on = aof == "yes" if aof is not None else bool(info.get("aof_enabled"))
    if aof_on:
        fsync = config.get("appendfsync")
        if fsync == "always":
            return Finding(
                "persistence",
                "OK",
                "AOF with appendfsync always: every acknowledged append survives a crash",
            )
        if fsync == "everysec":
            return Finding(
                "persistence",
                "WARN",
                "AOF with appendfsync everysec: a machine crash can lose ~1 s of "
                "acknowledged appends (a process kill loses none)",
            )
        if fsync == "no":
            return Finding(
                "persistence",
                "WARN",
                "AOF with appendfsync no: the OS flushes when it likes (~30 s of appends at risk)",
            )
        return Finding("persistence", "WARN", "AOF on, appendfsync unknown (CONFIG unavailable)")
    save = config.get("save")
    if save is None:
        return Finding("persistence", "WARN", "AOF off and save rules unknown (CONFIG unavailable)")
    if not save.strip():
        return Finding(
            "persistence",
            "FAIL",
            "no persistence (appendonly no, save ''): a restart loses every conversation",
        )
    changes = info.get("rdb_changes_since_last_save", "?")
    return Finding(
        "persistence",
        "WARN",
        f"RDB snapshots only (save '{save}'): a crash loses every append since the last "
        f"snapshot ({changes} changes now)",
    )


def _persistence_health(info: dict[str, Any]) -> Finding:
    bad = [
        f"{k}={info[k]}"
        for k in ("rdb_last_bgsave_status", "aof_last_bgrewrite_status", "aof_last_write_status")
        if k in info and info[k] != "ok"
    ]
    if bad:
        return Finding("disk writes", "FAIL", f"last persistence write failed: {', '.join(bad)}")
    if info.get("loading"):
        return Finding("disk writes", "WARN", "server is still loading its data set")
    return Finding("disk writes", "OK", "last snapshot / AOF writes succeeded")


def _maxmemory(config: _Config, memory: dict[str, Any]) -> tuple[int, str]:
    raw = config.get("maxmemory")
    limit = int(raw) if raw is not None and raw.isdigit() else int(memory.get("maxmemory", 0))
    policy = config.get("maxmemory-policy") or str(memory.get("maxmemory_policy", "unknown"))
    return limit, policy


def _eviction(config: _Config, memory: dict[str, Any]) -> Finding:
    limit, policy = _maxmemory(config, memory)
    if policy == "noeviction":
        return Finding(
            "eviction", "OK", "noeviction: a full server refuses writes instead of dropping memory"
        )
    if policy.startswith("allkeys"):
        if limit:
            return Finding(
                "eviction",
                "FAIL",
                f"{policy} with maxmemory {_size(limit)}: any session can be silently evicted",
            )
        return Finding(
            "eviction",
            "WARN",
            f"{policy}: inert without maxmemory, but any session goes once a limit is set",
        )
    if policy.startswith("volatile"):
        return Finding(
            "eviction",
            "WARN",
            f"{policy}: sessions stored with a ttl can be evicted before they expire",
        )
    return Finding("eviction", "WARN", f"unknown maxmemory-policy {policy!r}")


def _headroom(memory: dict[str, Any]) -> Finding:
    used = int(memory.get("used_memory", 0))
    limit = int(memory.get("maxmemory", 0))
    total = int(memory.get("total_system_memory", 0))
    if limit:
        share, what = used / limit, f"maxmemory {_size(limit)}"
    elif total:
        share, what = used / total, f"system memory {_size(total)}, no maxmemory"
    else:
        return Finding("memory", "INFO", f"used {_size(used)}; no maxmemory, system size unknown")
    reason = f"used {_size(used)} ({share:.0%}) of {what}"
    if share >= FAIL_FULL:
        return Finding("memory", "FAIL", reason + ": appends will soon be refused or evict")
    if share >= WARN_FULL:
        return Finding("memory", "WARN", reason)
    return Finding("memory", "OK", reason)


def _evictions(stats: dict[str, Any]) -> Finding:
    evicted = int(stats.get("evicted_keys", 0))
    if evicted:
        return Finding(
            "evicted keys", "FAIL", f"{evicted} keys evicted since start: memory may be gone"
        )
    return Finding("evicted keys", "OK", "no key evicted since start")


def render_findings(findings: Sequence[Finding]) -> str:
    """An aligned text table: CHECK, STATUS, REASON."""
    rows = [("CHECK", "STATUS", "REASON")] + [(f.check, f.status, f.reason) for f in findings]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}".rstrip() for r in rows)


def exit_code(findings: Sequence[Finding]) -> int:
    """1 when any check failed, else 0: what ``memfix doctor`` exits with."""
    return 1 if any(f.status == "FAIL" for f in findings) else 0
