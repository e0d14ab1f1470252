"""Load: concurrent conversations through Rasa's REST channel and the action server, then
every conversation's tracker read back from Redis and checked against what was sent.

The repo's assistant (domain, data, actions) with benchmarks/fast_config.yml's stock pipeline
is served by bot/stack.py's ProjectStack (Rasa, the action server, Redis on loopback); a small
asyncio client (benchmarks/load_client.py) plays ``--conversations`` customers, at most
``--concurrency`` at a time, each writing ``--turns`` messages in one of the eight served
languages and waiting for each answer. A ``--double-send`` share of the customers send two
messages at once (a double click, a client retry), each to another server when there are
``--servers 2``: Rasa's lock store must then serve the conversation one message at a time.

Afterwards each tracker must hold every message once, each followed by exactly the answers its
HTTP response carried and an ``action_listen``: nothing lost, nothing interleaved
(benchmarks/load_checks.py). ``--lock-store rasa`` runs Rasa 3.6's own RedisLockStore instead
of lingodesk's atomic one (bot/stores.py), the control that shows why it is replaced.

    python -m benchmarks load --conversations 200 --turns 5 --concurrency 50 --servers 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.assistant import prepare_shipped_assistant, train_cached
from benchmarks.common import REPO_ROOT
from benchmarks.load_checks import check_and_summarize, lock_contention
from benchmarks.load_client import drive, plan

if TYPE_CHECKING:
    from bot.stack import ProjectStack

# Trained models by their project files' fingerprint: a second run serves the first's model.
CACHE_DIR = REPO_ROOT / "benchmarks" / "out" / "models"


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


def run(args: argparse.Namespace) -> dict[str, Any]:
    conversations, turns = (24, 4) if args.quick else (args.conversations, args.turns)
    scripts, doubles = plan(conversations, turns, args.double_send, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="lingodesk-load-"))
    model = _train(workdir / "train")
    load_before = os.getloadavg()
    with ExitStack() as running:
        stacks = _serve(running, model, workdir, args.servers, args.lock_store)
        tokens = {sender: stacks[0].session(sender) for sender in scripts}
        conversations_run, wall = asyncio.run(
            drive([s.url for s in stacks], scripts, tokens, doubles, args.concurrency, args.timeout)
        )
        check, summary = check_and_summarize(stacks[0].redis.port, conversations_run, wall, doubles)
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
        **summary,
        "conversations_with_tracker_problems": len(check.problems),
        "tracker_problems": dict(list(check.problems.items())[:10]),
        "lock_contention": contention,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        },
    }


def _train(directory: Path) -> Path:
    """The shipped assistant with the fast pipeline, trained (`rasa train`, a few minutes),
    or the model an earlier run trained from the same files."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return train_cached(prepare_shipped_assistant(directory), cache_dir=CACHE_DIR)


def _serve(
    running: ExitStack, model: Path, workdir: Path, servers: int, lock_store: str
) -> list[ProjectStack]:
    """``servers`` stacks serving ``model``, all keeping conversations and locks in the first
    one's Redis; ``running`` stops them."""
    from bot.sessions import SESSION_SECRET_ENV
    from bot.stack import ProjectStack
    from bot.supervisor import single_core_environment

    stacks: list[ProjectStack] = []
    # One signing secret for all: a customer's session token is good on every server.
    secret = secrets.token_urlsafe(48)
    for index in range(servers):
        project = prepare_shipped_assistant(workdir / f"server-{index}")
        shutil.copy(model, project / "models" / "model.tar.gz")
        stack = ProjectStack(project, env=single_core_environment(**{SESSION_SECRET_ENV: secret}))
        _configure_stores(project, (stacks[0] if stacks else stack).redis.port, lock_store)
        stacks.append(running.enter_context(stack))
    return stacks


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
