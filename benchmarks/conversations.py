"""Conversations: scripted support conversations played through the real assistant, and who
reached a human, in which queue, at what priority, after how many messages.

Each conversation of data/test/conversations/ (held out: written for this benchmark, never
trained on) is sent message by message through Rasa's REST channel of a served assistant
(bot/stack.py: Rasa, the action server, Redis); after each message the handoff queues in Redis
are asked whether the conversation has a ticket. Two systems, trained on the same data/:

- ``lingodesk``: config.yml (language ID, the LoRA-tuned transformer) and handoff/routing.yml;
- ``stock``: benchmarks/stock_config.yml (Rasa's own DIET pipeline) with a handoff on the
  ``request_human`` intent alone, what a Rasa user gets without lingodesk.

Per language: escalation recall (conversations that should reach a human and did), false
escalations (calm conversations sent to a human), the right queue and at least the expected
priority among the escalated, raised priority among the angry, and messages until handoff.

    python -m benchmarks conversations --json results/conversations.json
    python -m benchmarks conversations --model models/20261205-120000.tar.gz --systems lingodesk
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.assistant import prepare_shipped_assistant
from benchmarks.common import REPO_ROOT

CONVERSATIONS = REPO_ROOT / "data" / "test" / "conversations"
STOCK_CONFIG = Path(__file__).resolve().parent / "stock_config.yml"
ENCODER = REPO_ROOT / "models" / "multilingual-e5-small"
SYSTEMS = ("lingodesk", "stock")
# The stock system's routing: only the `request_human` intent escalates (the other rules'
# thresholds cannot be reached).
STOCK_ROUTING = """\
rules:
  explicit_request: {signal_threshold: 2.0, near_top_confidence: 2.0}
  anger: {strong: 2.0, frustrated: 2.0, min_confidence: 2.0, sharp_drop: 9.0}
  threat: {threshold: 2.0}
  repeated_fallback: {turns: 99, window: 99}
language_confidence: 2.0
"""
HIGH = 2  # index of "high" in handoff.config.PRIORITIES
METRICS = ("recall", "false_escalation", "queue", "priority", "anger_priority", "turns")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversations", type=Path, default=CONVERSATIONS)
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--languages", nargs="+", help="only these conversation languages")
    parser.add_argument("--model", type=Path, help="a trained lingodesk model (else: trained)")
    parser.add_argument("--stock-model", type=Path, help="a trained stock model (else: trained)")
    parser.add_argument("--work", type=Path, help="keep the projects and logs here")


def _project(system: str, work: Path, model: Path | None) -> tuple[Path, dict[str, str]]:
    """The system's Rasa project under ``work``, trained unless ``model`` is given."""
    from bot.training import train

    config = REPO_ROOT / "config.yml" if system == "lingodesk" else STOCK_CONFIG
    project = prepare_shipped_assistant(work / system, config=config)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", RASA_TELEMETRY_ENABLED="false")
    if system == "lingodesk":
        encoder = project / "models" / ENCODER.name
        if not encoder.exists():
            encoder.symlink_to(ENCODER)
    else:
        routing = project / "stock_routing.yml"
        routing.write_text(STOCK_ROUTING)
        env["LINGODESK_ROUTING_CONFIG"] = str(routing)
    if model is not None:
        shutil.copy(model, project / "models" / model.name)
    else:
        print(f"training {system} ({config.name}) ...", flush=True)
        train(project, env, log=project / "logs" / "train.log")
    return project, env


async def _play(stack: Any, redis_url: str, system: str, conversations: Sequence[Any]) -> list:
    """One outcome per conversation: (turns until a ticket or None, queue, priority)."""
    import aiohttp

    from handoff.config_loader import load_config
    from handoff.queues import TicketQueues

    queues = TicketQueues.from_config(load_config(environ={"LINGODESK_REDIS_URL": redis_url}))
    outcomes = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            for conversation in conversations:
                sender = f"{system}-{conversation.id}"
                outcome: tuple[int | None, str | None, int | None] = (None, None, None)
                for index, text in enumerate(conversation.turns, start=1):
                    body = {"sender": stack.session(sender), "message": text}
                    webhook = f"{stack.url}/webhooks/rest/webhook"
                    async with http.post(webhook, json=body) as answer:
                        answer.raise_for_status()
                        await answer.read()
                    ticket = await queues.open_ticket(sender)
                    if ticket is not None:
                        outcome = (index, ticket.queue, ticket.priority)
                        break
                outcomes.append(outcome)
    finally:
        await queues.aclose()
    return outcomes


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def score(conversations: Sequence[Any], outcomes: Sequence[tuple]) -> dict[str, Any]:
    """The benchmark's figures for one group of conversations and their outcomes."""
    pairs = list(zip(conversations, outcomes))
    wanted = [(c, o) for c, o in pairs if c.handoff]
    calm = [(c, o) for c, o in pairs if not c.handoff]
    reached = [(c, o) for c, o in wanted if o[0] is not None]
    angry = [(c, o) for c, o in reached if c.angry]
    return {
        "conversations": len(pairs),
        "recall": _rate(len(reached), len(wanted)),
        "false_escalation": _rate(sum(o[0] is not None for _, o in calm), len(calm)),
        "queue": _rate(sum(o[1] == c.queue for c, o in reached), len(reached)),
        "priority": _rate(sum(o[2] >= c.min_priority_level for c, o in reached), len(reached)),
        "anger_priority": _rate(sum(o[2] >= HIGH for _, o in angry), len(angry)),
        "turns": round(statistics.mean(o[0] for _, o in reached), 2) if reached else None,
        "missed": [c.id for c, o in wanted if o[0] is None],
        "false_escalations": [c.id for c, o in calm if o[0] is not None],
    }


def _by_language(conversations: Sequence[Any], outcomes: Sequence[tuple]) -> dict[str, Any]:
    groups: dict[str, list[int]] = {}
    for index, conversation in enumerate(conversations):
        groups.setdefault(conversation.language, []).append(index)
    figures = {
        language: score([conversations[i] for i in idx], [outcomes[i] for i in idx])
        for language, idx in sorted(groups.items())
    }
    figures["all"] = score(conversations, outcomes)
    return figures


def _run_system(system: str, conversations: Sequence[Any], work: Path, model: Path | None) -> dict:
    from bot.stack import ProjectStack

    project, env = _project(system, work, model)
    with ProjectStack(project, env=env) as stack:
        redis_url = f"redis://127.0.0.1:{stack.redis.port}/2"
        outcomes = asyncio.run(_play(stack, redis_url, system, conversations))
    return _by_language(conversations, outcomes)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from evaluation.conversation_data import read_conversations

    conversations = read_conversations(args.conversations)
    if args.languages:
        conversations = [c for c in conversations if c.language in set(args.languages)]
    if args.quick:  # the first three of each language
        conversations = [
            c for c in conversations
            if [d.language for d in conversations[: conversations.index(c)]].count(c.language) < 3
        ]  # fmt: skip
    models = {"lingodesk": args.model, "stock": args.stock_model}
    work = args.work or Path(tempfile.mkdtemp(prefix="lingodesk-conversations-"))
    try:
        systems = {s: _run_system(s, conversations, work, models[s]) for s in args.systems}
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    kinds: dict[str, int] = {}
    for conversation in conversations:
        kinds[conversation.kind] = kinds.get(conversation.kind, 0) + 1
    return {
        "suite": "conversations",
        "set": {"conversations": len(conversations), "kinds": kinds},
        "systems": systems,
    }


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def format_table(result: dict[str, Any]) -> str:
    systems = result["systems"]
    header = ["language", "n"] + [f"{m} ({s})" for m in METRICS for s in systems]
    rows = [header, ["---"] * len(header)]
    languages = next(iter(systems.values())).keys()
    for language in languages:
        first = next(iter(systems.values()))[language]
        row = [language, str(first["conversations"])]
        row += [_cell(systems[s][language][m]) for m in METRICS for s in systems]
        rows.append(row)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)
