"""What a load run left behind, checked and measured: every stored conversation against what
its customer sent and saw, throughput and latency, and the lock store alone under the worst
case (one conversation's messages on two servers at once). Used by the load suite
(benchmarks/load.py) and the load and fault tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Set
from dataclasses import dataclass
from typing import Any

from benchmarks.load_client import Turn
from evaluation.metrics import percentile


def stored_events(redis_client: Any, sender: str, key_prefix: str = "lingodesk") -> list[dict]:
    """The conversation's events as Rasa's RedisTrackerStore keeps them (read directly)."""
    stored = redis_client.get(f"{key_prefix}:tracker:{sender}")
    return json.loads(stored)["events"] if stored else []


def tracker_problems(
    events: list[dict[str, Any]], turns: list[Turn], double: bool = False
) -> list[str]:
    """What is wrong with a stored conversation given what its customer sent and saw.

    Every message is stored exactly once and in the order sent (the two a double-sender sent at
    once in either order); after each come exactly the bot messages its HTTP answer carried,
    then ``action_listen``, before the next message, unless the turn handed the conversation
    to a human (a ``pause``: the bot then stays silent). A lost, duplicated or interleaved
    event breaks one of these.
    """
    problems = []
    segments: list[tuple[str, list[dict[str, Any]]]] = []
    for event in events:
        if event["event"] == "user":
            segments.append((event.get("text") or "", []))
        elif segments:
            segments[-1][1].append(event)
    stored = [text for text, _ in segments]
    sent = [turn.text for turn in turns]
    swapped = [*sent[1::-1], *sent[2:]] if double else sent
    if stored not in (sent, swapped):
        problems.append(f"messages stored {stored} != sent {sent}")
    answers = {turn.text: turn.replies for turn in turns}
    paused = False
    for text, following in segments:
        said = [e["text"] for e in following if e["event"] == "bot" and e.get("text")]
        if text in answers and said != answers[text]:
            problems.append(
                f"after {text!r} the tracker has {said}, the customer saw {answers[text]}"
            )
        actions = [e.get("name") for e in following if e["event"] == "action"]
        paused = paused or any(e["event"] == "pause" for e in following)
        if not paused and (not actions or actions[-1] != "action_listen"):
            problems.append(f"the turn of {text!r} is unfinished: {actions}")
    return problems


@dataclass
class Check:
    """The stored conversations checked: problems per conversation (none: every tracker is
    complete and in order) and the conversations a human took over."""

    problems: dict[str, list[str]]
    handed_off: set[str]


def check_trackers(
    redis_client: Any, conversations: dict[str, list[Turn]], doubles: Set[str] = frozenset()
) -> Check:
    events = {sender: stored_events(redis_client, sender) for sender in conversations}
    problems = {
        sender: tracker_problems(events[sender], turns, sender in doubles)
        for sender, turns in conversations.items()
    }
    return Check(
        problems={sender: found for sender, found in problems.items() if found},
        handed_off={
            s for s, stored in events.items() if any(e["event"] == "pause" for e in stored)
        },
    )


def summarize(
    conversations: dict[str, list[Turn]], wall: float, handed_off: Set[str] = frozenset()
) -> dict[str, Any]:
    """Throughput, latency percentiles, errors (no HTTP 200) and unanswered messages (no reply,
    outside conversations a human took over, where the bot is silent by design)."""
    turns = [turn for conversation in conversations.values() for turn in conversation]
    latencies = sorted(turn.seconds * 1000 for turn in turns)
    return {
        "conversations": len(conversations),
        "messages": len(turns),
        "wall_seconds": round(wall, 2),
        "throughput_msgs_per_s": round(len(turns) / wall, 2),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(latencies[-1], 1),
        },
        "errors": sum(turn.status != 200 or turn.error is not None for turn in turns),
        "unanswered": sum(
            not turn.answered
            for sender, conversation in conversations.items()
            if sender not in handed_off
            for turn in conversation
        ),
        "handed_off_conversations": len(handed_off),
    }


def check_and_summarize(
    redis_port: int,
    conversations: dict[str, list[Turn]],
    wall: float,
    doubles: Set[str] = frozenset(),
) -> tuple[Check, dict[str, Any]]:
    """The stored conversations (the tracker store's database 0 on the Redis at
    ``redis_port``) checked against what the customers saw, and the run summarized."""
    import redis

    with redis.Redis(port=redis_port, db=0) as client:
        check = check_trackers(client, conversations, doubles)
    return check, summarize(conversations, wall, check.handed_off)


def lock_contention(
    redis_port: int, lock_store: str, servers: int = 2, messages: int = 20
) -> dict[str, Any]:
    """The lock store alone under the worst case: ``servers`` threads (a lock store and Redis
    connections each, like Rasa servers) each handling ``messages`` messages of ONE
    conversation at once. Each message, holding the lock, reads a counter, yields, and writes
    it back incremented (what a turn does to the tracker). A correct lock serves every message
    and loses no increment."""
    import threading

    import redis
    from rasa.core.lock_store import LockError
    from rasa.core.lock_store import RedisLockStore as RasaRedisLockStore
    from rasa.utils.endpoints import EndpointConfig

    from bot.stores import RedisLockStore

    settings = {"port": redis_port, "db": 1, "key_prefix": "contention"}
    counter = redis.Redis(port=redis_port, db=0)
    counter.delete("contention:counter")
    served: list[bool] = []

    def server() -> None:
        if lock_store == "rasa":
            store = RasaRedisLockStore(host="127.0.0.1", **settings)
        else:
            store = RedisLockStore(EndpointConfig(url="127.0.0.1", **settings))

        async def turn() -> bool:
            try:
                async with store.lock("customer", wait_time_in_seconds=0.01):
                    value = int(counter.get("contention:counter") or 0)
                    await asyncio.sleep(0.001)
                    counter.set("contention:counter", value + 1)
            except LockError:
                return False
            return True

        async def burst() -> list[bool]:
            return await asyncio.gather(*(turn() for _ in range(messages)))

        served.extend(asyncio.run(burst()))

    started = time.perf_counter()
    threads = [threading.Thread(target=server) for _ in range(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    count = int(counter.get("contention:counter") or 0)
    return {
        "lock_store": lock_store,
        "messages": servers * messages,
        "served": sum(served),
        "lock_errors": served.count(False),
        "lost_updates": sum(served) - count,
        "seconds": round(time.perf_counter() - started, 2),
    }
