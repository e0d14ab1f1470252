"""Load: concurrent conversations through Rasa's REST channel and the action server, then
every conversation's tracker read back from Redis and checked against what was sent.

The repo's assistant (domain, data, actions) with tests/fast_config.yml's stock pipeline is
served by tests/servers.py's RasaStack (Rasa, the action server, Redis on loopback); a small
asyncio client plays ``--conversations`` customers, at most ``--concurrency`` at a time, each
writing ``--turns`` messages in one of the eight served languages and waiting for each answer.
A ``--double-send`` share of the customers send two messages at once (a double click, a
client retry), each to another server when there are ``--servers 2``: Rasa's lock store must
then serve the conversation one message at a time.

Afterwards each tracker must hold every message once, each followed by exactly the answers its
HTTP response carried and an ``action_listen``: nothing lost, nothing interleaved.
``--lock-store rasa`` runs Rasa 3.6's own RedisLockStore instead of lingodesk's atomic one
(bot/stores.py), the control that shows why it is replaced.

    python -m benchmarks load --conversations 200 --turns 5 --concurrency 50 --servers 2
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Set
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT
from benchmarks.lingodesk_model import percentile

# Messages that stay with the bot (no request for a human, no unserved language): sent as
# written, in the eight languages the assistant answers in.
MESSAGES: dict[str, list[str]] = {
    "en": ["Hello there!", "Where is my order LD-482913?", "How long does delivery to Spain take?",
           "Can I return shoes I bought last week?", "Thank you very much for your help"],
    "de": ["Guten Morgen!", "Wo ist meine Bestellung LD-120045?", "Wie lange dauert der Versand?",
           "Kann ich die Jacke zurückschicken?", "Vielen Dank für die Hilfe"],
    "es": ["¡Hola, buenas tardes!", "¿Dónde está mi pedido LD-553201?",
           "¿Cuánto tarda el envío a México?", "Quiero devolver unas zapatillas",
           "Muchas gracias por tu ayuda"],
    "fr": ["Bonjour !", "Où est ma commande LD-700114 ?", "Combien de temps prend la livraison ?",
           "Je voudrais retourner un pull", "Merci beaucoup pour votre aide"],
    "pt": ["Olá, bom dia!", "Onde está a minha encomenda LD-310077?",
           "Quanto tempo demora a entrega?", "Quero devolver uns sapatos",
           "Muito obrigado pela ajuda"],
    "zh": ["你好", "我的订单LD-882301在哪里？", "送货需要多长时间？", "我想退货",
           "非常感谢你的帮助"],
    "ja": ["こんにちは", "注文LD-640012はどこですか？", "配送にはどのくらいかかりますか？",
           "靴を返品したいです", "ありがとうございました"],
    "ar": ["مرحبا", "أين طلبي LD-905516؟", "كم يستغرق التوصيل؟", "أريد إرجاع الحذاء",
           "شكرا جزيلا على مساعدتك"],
}  # fmt: skip
CACHE_DIR = REPO_ROOT / "benchmarks" / "out" / "models"


@dataclass
class Turn:
    """One message as the customer experienced it."""

    sender: str
    text: str
    seconds: float = 0.0
    status: int | None = None
    replies: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.status == 200 and bool(self.replies) and self.error is None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=5, help="messages per conversation")
    parser.add_argument("--concurrency", type=int, default=50, help="customers at a time")
    parser.add_argument(
        "--servers",
        type=int,
        choices=(1, 2),
        default=1,
        help="Rasa servers sharing Redis, each with its own action server",
    )
    parser.add_argument(
        "--double-send",
        type=float,
        default=0.2,
        help="share of customers who send two messages at once",
    )
    parser.add_argument("--lock-store", choices=("lingodesk", "rasa"), default="lingodesk")
    parser.add_argument("--timeout", type=float, default=120, help="per request, seconds")
    parser.add_argument(
        "--contention-messages",
        type=int,
        default=20,
        help="afterwards, messages per server sent at once to one conversation (lock only)",
    )


def plan(
    conversations: int, turns: int, double_send: float, seed: int
) -> tuple[list[list[str]], set[int]]:
    """Each customer's messages, and which customers double-send. Messages are distinct within
    a conversation (a repeat gets a counter), so each answer can be matched to its message."""
    rng = random.Random(seed)
    languages = sorted(MESSAGES)
    scripts = []
    for index in range(conversations):
        texts = rng.sample(MESSAGES[languages[index % len(languages)]], k=5)
        scripts.append(
            [text if n < len(texts) else f"{text} ({n // len(texts) + 1})"
             for n, text in enumerate(itertools.islice(itertools.cycle(texts), turns))]
        )  # fmt: skip
    return scripts, set(rng.sample(range(conversations), round(conversations * double_send)))


async def send(session: Any, url: str, sender: str, text: str, timeout: float) -> Turn:
    """POST one message to the REST channel; the customer sees the answers it returns."""
    import aiohttp

    turn = Turn(sender, text)
    started = time.perf_counter()
    try:
        async with session.post(
            f"{url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as answer:
            turn.status = answer.status
            if answer.status == 200:
                # a response with text and a custom payload arrives as two messages
                turn.replies = [m["text"] for m in await answer.json() if "text" in m]
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        turn.error = f"{type(error).__name__}: {error}"
    turn.seconds = time.perf_counter() - started
    return turn


async def converse(
    session: Any, urls: list[str], sender: str, script: list[str], double: bool, timeout: float
) -> list[Turn]:
    """One customer: each message after the previous answer; a double-sender sends her first
    two messages at once (to two servers when there are two)."""
    turns: list[Turn] = []
    rest = script
    if double and len(script) >= 2:
        turns += await asyncio.gather(
            *(send(session, urls[i % len(urls)], sender, text, timeout)
              for i, text in enumerate(script[:2]))
        )  # fmt: skip
        rest = script[2:]
    for index, text in enumerate(rest):
        turns.append(await send(session, urls[index % len(urls)], sender, text, timeout))
    return turns


async def drive(
    urls: list[str],
    scripts: dict[str, list[str]],
    doubles: set[str],
    concurrency: int,
    timeout: float,
) -> tuple[dict[str, list[Turn]], float]:
    """Every customer's conversation, ``concurrency`` at a time; returns turns and wall time."""
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(sender: str) -> list[Turn]:
            async with limit:
                return await converse(
                    session, urls, sender, scripts[sender], sender in doubles, timeout
                )

        started = time.perf_counter()
        results = await asyncio.gather(*(one(sender) for sender in scripts))
        wall = time.perf_counter() - started
    return dict(zip(scripts, results)), wall


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


def run(args: argparse.Namespace) -> dict[str, Any]:
    import redis

    from tests.servers import RasaStack, prepare_shipped_assistant, train

    conversations, turns = (24, 4) if args.quick else (args.conversations, args.turns)
    scripts_list, double_indexes = plan(conversations, turns, args.double_send, args.seed)
    scripts = {f"load-{i:05d}": script for i, script in enumerate(scripts_list)}
    doubles = {f"load-{i:05d}" for i in double_indexes}
    workdir = Path(tempfile.mkdtemp(prefix="lingodesk-load-"))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    model = train(prepare_shipped_assistant(workdir / "train"), cache_dir=CACHE_DIR)
    load_before = os.getloadavg()
    with ExitStack() as running:
        stacks = []
        for index in range(args.servers):
            project = prepare_shipped_assistant(workdir / f"server-{index}")
            shutil.copy(model, project / "models" / "model.tar.gz")
            stack = RasaStack(project)
            # Every server keeps its conversations and locks in the first server's Redis.
            _configure_stores(project, (stacks[0] if stacks else stack).redis.port, args.lock_store)
            stacks.append(running.enter_context(stack))
        conversations_run, wall = asyncio.run(
            drive([s.url for s in stacks], scripts, doubles, args.concurrency, args.timeout)
        )
        with redis.Redis(port=stacks[0].redis.port, db=0) as client:
            check = check_trackers(client, conversations_run, doubles)
        load_after = os.getloadavg()
        contention = lock_contention(
            stacks[0].redis.port, args.lock_store, messages=args.contention_messages
        )
    return {
        "suite": "load",
        "servers": args.servers,
        "lock_store": args.lock_store,
        "concurrency": args.concurrency,
        "double_send_conversations": len(doubles),
        **summarize(conversations_run, wall, check.handed_off),
        "conversations_with_tracker_problems": len(check.problems),
        "tracker_problems": dict(list(check.problems.items())[:10]),
        "lock_contention": contention,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        },
    }


def _configure_stores(project: Path, redis_port: int, lock_store: str) -> None:
    """Point the project's tracker and lock stores at the Redis on ``redis_port``; with
    ``lock_store="rasa"``, use Rasa's own RedisLockStore there."""
    import yaml

    path = project / "endpoints.yml"
    endpoints = yaml.safe_load(path.read_text())
    for store in ("tracker_store", "lock_store"):
        endpoints[store]["port"] = redis_port
    if lock_store == "rasa":
        endpoints["lock_store"] = {
            "type": "redis",
            "url": "127.0.0.1",
            "port": redis_port,
            "db": 1,
            "key_prefix": "lingodesk",
        }
    path.write_text(yaml.safe_dump(endpoints, sort_keys=False))


def format_table(result: dict[str, Any]) -> str:
    latency = result["latency_ms"]
    contention = result["lock_contention"]
    return (
        f"load: {result['conversations']} conversations, {result['messages']} messages, "
        f"{result['servers']} Rasa server(s), lock store {result['lock_store']}, "
        f"concurrency {result['concurrency']}\n"
        f"throughput {result['throughput_msgs_per_s']:.1f} msg/s   "
        f"p50 {latency['p50']:.0f} ms   p95 {latency['p95']:.0f} ms   "
        f"p99 {latency['p99']:.0f} ms   max {latency['max']:.0f} ms\n"
        f"errors {result['errors']}   unanswered {result['unanswered']}   "
        f"handed off {result['handed_off_conversations']}   "
        f"conversations with tracker problems {result['conversations_with_tracker_problems']}"
        f"   load average {result['machine']['load_average_1min_before_after']}\n"
        f"lock contention ({contention['messages']} messages of one conversation at once on 2 "
        f"servers): served {contention['served']}, lock errors {contention['lock_errors']}, "
        f"lost updates {contention['lost_updates']}, {contention['seconds']:.1f} s"
    )
