"""The stores people use today, when installed (``scripts/bench --with-peers``):
langchain_community's ``RedisChatMessageHistory`` and llama-index's ``RedisChatStore``,
each given the run's client (same server, same parser), with and without TTL."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import warnings
from collections.abc import Callable

import redis

from benchmarks.append import BATCH, TTL_SECONDS
from benchmarks.corpus import batches as _batches
from benchmarks.corpus import cycle as _cycle
from benchmarks.harness import Contender, Op
from memfix import Message

HISTORY = 100
# What `--with-peers` installs (the same lines as memfix's `bench` extra).
PEER_REQUIREMENTS = [
    "langchain-community>=0.3",
    "langchain-core>=0.3",
    "llama-index-storage-chat-store-redis>=0.4",
]


def install_peers() -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    cmd += PEER_REQUIREMENTS
    print("installing the optional peers:", " ".join(cmd[3:]), flush=True)
    if subprocess.run(cmd, check=False).returncode != 0:
        print("pip failed: the peers that did not install are skipped", flush=True)


def peer_contenders(
    msgs: list[Message], notes: list[str]
) -> tuple[list[Contender], list[Contender], list[Contender]]:
    """langchain_community and llama-index, each skipped with a note when absent."""
    append1: list[Contender] = []
    append10: list[Contender] = []
    history: list[Contender] = []
    history_msgs = msgs[:HISTORY]

    try:
        with warnings.catch_warnings():  # "langchain-community is being sunset"
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.chat_message_histories import RedisChatMessageHistory
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
    except ImportError as exc:
        notes.append(
            f"langchain_community skipped (not installed: {exc.name}); run with --with-peers"
        )
    else:
        lc_msgs: list[BaseMessage] = [
            (HumanMessage if m.role == "user" else AIMessage)(content=m.content) for m in msgs
        ]
        lc_prefix = "message_store:"

        def langchain(ttl: int | None) -> Callable[[redis.Redis, str], RedisChatMessageHistory]:
            def build(r: redis.Redis, key: str) -> RedisChatMessageHistory:
                # It takes a URL only; give it the run's client (same server, same parser).
                hist = RedisChatMessageHistory(key, url="redis://127.0.0.1:1/0", ttl=ttl)
                hist.redis_client = r
                return hist

            return build

        def lc_append(ttl: int | None) -> Callable[[redis.Redis, str], Op]:
            def make(r: redis.Redis, key: str) -> Op:
                hist = langchain(ttl)(r, key)
                nxt = _cycle(lc_msgs)
                return lambda: hist.add_message(nxt())

            return make

        def lc_batch(r: redis.Redis, key: str) -> Op:
            hist = langchain(None)(r, key)
            nxt = _cycle(_batches(lc_msgs, BATCH))
            return lambda: hist.add_messages(nxt())

        def lc_fill(r: redis.Redis, key: str) -> None:
            hist = langchain(None)(r, key)
            hist.clear()
            hist.add_messages(lc_msgs[:HISTORY])

        def lc_history(r: redis.Redis, key: str) -> Op:
            hist = langchain(None)(r, key)
            return lambda: hist.messages

        def lc_key(session: str) -> str:
            return lc_prefix + session

        version = importlib.metadata.version("langchain-community")
        append1 += [
            Contender(f"langchain_community {version}", lc_append(None)),
            Contender(f"langchain_community {version} ttl", lc_append(TTL_SECONDS)),
        ]
        append10.append(
            Contender(
                f"langchain_community {version}",
                lc_batch,
                note="add_messages: one LPUSH per message",
            )
        )
        history.append(
            Contender(
                f"langchain_community {version} .messages",
                lc_history,
                prepare=lc_fill,
            )
        )

    try:
        from llama_index.core.llms import ChatMessage
        from llama_index.storage.chat_store.redis import RedisChatStore
        from redis.asyncio import Redis as AsyncRedis
    except ImportError as exc:
        notes.append(
            f"llama-index RedisChatStore skipped (not installed: {exc.name}); run with --with-peers"
        )
    else:
        li_msgs = [ChatMessage(role=m.role, content=m.content) for m in msgs]

        def llama(r: redis.Redis, ttl: int | None) -> RedisChatStore:
            # aredis_client: an unused, never-connected placeholder; without it the
            # store builds one from its default URL and probes localhost:6379.
            return RedisChatStore(redis_client=r, aredis_client=AsyncRedis(), ttl=ttl)

        def li_append(ttl: int | None) -> Callable[[redis.Redis, str], Op]:
            def make(r: redis.Redis, key: str) -> Op:
                store = llama(r, ttl)
                nxt = _cycle(li_msgs)
                return lambda: store.add_message(key, nxt())

            return make

        def li_batch(r: redis.Redis, key: str) -> Op:
            store = llama(r, None)
            nxt = _cycle(_batches(li_msgs, BATCH))

            def op() -> None:
                for m in nxt():
                    store.add_message(key, m)

            return op

        def li_fill(r: redis.Redis, key: str) -> None:
            r.delete(key)
            store = llama(r, None)
            for m in li_msgs[:HISTORY]:
                store.add_message(key, m)

        def li_history(r: redis.Redis, key: str) -> Op:
            store = llama(r, None)
            return lambda: store.get_messages(key)

        version = importlib.metadata.version("llama-index-storage-chat-store-redis")
        append1 += [
            Contender(f"llama-index RedisChatStore {version}", li_append(None)),
            Contender(f"llama-index RedisChatStore {version} ttl", li_append(TTL_SECONDS)),
        ]
        append10.append(
            Contender(
                f"llama-index RedisChatStore {version}", li_batch, note="no batch API: 10 calls"
            )
        )
        history.append(
            Contender(
                f"llama-index RedisChatStore {version} get_messages", li_history, prepare=li_fill
            )
        )
    del history_msgs
    return append1, append10, history
