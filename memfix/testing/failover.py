"""Kill a cluster master while writers append, and count what acknowledged appends
the promoted replica does not have.

Redis replicates asynchronously: a master acknowledges an append before its
replica has it, so a master killed at the wrong moment takes the newest
acknowledged writes with it when the replica is promoted. ``WAIT n timeout``
(after the write, on the same connection) returns once ``n`` replicas have
acknowledged every earlier write of that connection; it narrows the window to
writes WAIT did not confirm but is no consensus (Redis documents that a
failover can still lose writes WAIT confirmed, e.g. if an out-of-date replica
wins the election). ``run_failover(..., wait_replicas=1)`` measures both.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from redis.cluster import RedisCluster

from memfix.model import Message
from memfix.servers import Cluster, Server
from memfix.store.redis_store import RedisMemoryStore
from memfix.testing.invariants import CheckResult, check_history, tag

__all__ = [
    "FailoverResult",
    "count_lost",
    "kill_with_lagging_replica",
    "run_failover",
    "sessions_on",
]

_RETRY_S = 0.02
_WAIT_MS = 200


@dataclass
class FailoverResult:
    """Acknowledged appends of a run that killed one master, and what survived."""

    writers: int
    wait_replicas: int
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    retried: int = 0  # appends that failed during the failover and were sent again
    failover_s: float = 0.0  # from the kill to a promoted replica serving every slot
    unavailable_s: float = 0.0  # longest time a writer could not append
    unconfirmed: int = 0  # appends whose WAIT timed out or failed (not counted as acked)
    lost_sample: list[str] = field(default_factory=list)
    acked: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order)

    def describe(self) -> str:
        return (
            f"{self.writers} writers, WAIT {self.wait_replicas}: {self.acknowledged} acknowledged, "
            f"{self.lost} lost, {self.duplicated} duplicated, {self.out_of_order} out of order, "
            f"{self.retried} retried, {self.unconfirmed} unconfirmed by WAIT; "
            f"failover {self.failover_s:.2f} s, "
            f"longest outage {self.unavailable_s:.2f} s"
            + (f"; lost e.g. {self.lost_sample}" if self.lost_sample else "")
        )


def sessions_on(cluster: Cluster, master: int, count: int, prefix: str = "fo") -> list[str]:
    """``count`` session ids whose keys live on ``cluster.masters[master]``."""
    store = RedisMemoryStore(cluster.client)
    node = cluster.masters[master]
    found: list[str] = []
    i = 0
    while len(found) < count:
        sid = f"{prefix}-{i}"
        key = store.keys.messages(sid)
        owner = cluster.client.get_node_from_key(key)  # type: ignore[no-untyped-call]
        if owner is not None and owner.port == node.port:
            found.append(sid)
        i += 1
    return found


def count_lost(store: RedisMemoryStore, acked: dict[str, list[str]]) -> CheckResult:
    """Check every session's history against the tags acknowledged to it."""
    total = CheckResult()
    for sid, tags in acked.items():
        result = check_history(store.get_history(sid, limit=None), tags)
        total.acknowledged += result.acknowledged
        total.present += result.present
        total.lost += result.lost
        total.duplicated += result.duplicated
        total.out_of_order += result.out_of_order
        total.lost_sample += result.lost_sample[: 10 - len(total.lost_sample)]
    return total


def _writer(
    client: RedisCluster,
    sid: str,
    wait_replicas: int,
    payload: str,
    stop: threading.Event,
    acked: list[str],
    stats: dict[str, float],
) -> None:
    store = RedisMemoryStore(client)
    key = store.keys.messages(sid)
    seq = 0
    while not stop.is_set():
        m = Message("user", tag(sid, seq), float(seq), metadata={"pad": payload} if payload else {})
        seq += 1
        began = time.monotonic()
        while True:  # a retry resends the same message: the store drops a duplicate id
            try:
                store.append_message(sid, m)
                break
            except (redis.RedisError, OSError):
                stats["retried"] += 1
                if stop.is_set() and time.monotonic() - began > 30:
                    return
                time.sleep(_RETRY_S)
        stats["outage"] = max(stats["outage"], time.monotonic() - began)
        if wait_replicas and not _confirmed(client, key, wait_replicas):
            stats["unconfirmed"] += 1
            continue
        acked.append(m.content)


def _confirmed(client: RedisCluster, key: str, replicas: int) -> bool:
    """``WAIT`` on the connection that wrote ``key``: did ``replicas`` replicas get it?"""
    try:
        node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
        got = client.execute_command(  # type: ignore[no-untyped-call]
            "WAIT", replicas, _WAIT_MS, target_nodes=node
        )
    except (redis.RedisError, OSError):
        return False
    return int(got) >= replicas


def kill_with_lagging_replica(lag_s: float = 0.3) -> Callable[[Cluster], Server]:
    """A kill that shows what asynchronous replication risks: master 0's replica is
    frozen (SIGSTOP) for ``lag_s`` while the master keeps acknowledging appends, then
    the master is SIGKILLed and the replica thawed; it is promoted without what the
    master had not yet sent (with big enough appends the socket buffers fill up)."""

    def kill(cluster: Cluster) -> Server:
        replica = cluster.replicas[0]  # replicas[j] serve masters[j // replicas per master]
        pid = getattr(replica, "pid", None)
        if pid is None:
            raise ValueError(f"{replica!r}: cannot freeze a server that is not a local process")
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(lag_s)
            victim = cluster.kill_master(0)
        finally:
            os.kill(pid, signal.SIGCONT)
        return victim

    return kill


def run_failover(
    cluster: Cluster,
    *,
    writers: int = 4,
    before_s: float = 0.3,
    after_s: float = 0.3,
    wait_replicas: int = 0,
    payload_bytes: int = 0,
    kill: Callable[[Cluster], Server] | None = None,
) -> FailoverResult:
    """Writers append to sessions on master 0; it is SIGKILLed after ``before_s``;
    writers go on until a replica took over and ``after_s`` more; then every
    session is read back from the promoted side and checked. ``payload_bytes`` pads
    each message (in its metadata), so replication has more to carry."""
    if not cluster.replicas:
        raise ValueError("run_failover needs a cluster with replicas")
    sids = sessions_on(cluster, 0, writers)
    stop = threading.Event()
    acked: dict[str, list[str]] = {sid: [] for sid in sids}
    stats = [{"retried": 0.0, "outage": 0.0, "unconfirmed": 0.0} for _ in sids]
    clients = [cluster.new_client(cluster_error_retry_attempts=1, socket_timeout=1) for _ in sids]
    threads = [
        threading.Thread(
            target=_writer,
            args=(c, sid, wait_replicas, "x" * payload_bytes, stop, acked[sid], st),
            daemon=True,
        )
        for c, sid, st in zip(clients, sids, stats, strict=True)
    ]
    for t in threads:
        t.start()
    time.sleep(before_s)
    killed_at = time.monotonic()
    victim = kill(cluster) if kill is not None else cluster.kill_master(0)
    cluster.wait_for_failover(victim)
    failover_s = time.monotonic() - killed_at
    time.sleep(after_s)
    stop.set()
    for t in threads:
        t.join(60)
    for c in clients:
        c.close()
    with RedisMemoryStore(cluster.new_client()) as reader:
        check = count_lost(reader, acked)
    return FailoverResult(
        writers=writers,
        wait_replicas=wait_replicas,
        acknowledged=check.acknowledged,
        lost=check.lost,
        duplicated=check.duplicated,
        out_of_order=check.out_of_order,
        retried=int(sum(s["retried"] for s in stats)),
        unconfirmed=int(sum(s["unconfirmed"] for s in stats)),
        acked=acked,
        failover_s=failover_s,
        unavailable_s=max(s["outage"] for s in stats),
        lost_sample=check.lost_sample,
    )
