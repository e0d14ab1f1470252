"""A conversation as the routing policy reads it: Rasa tracker events (plain dicts, as the
action server receives them) turned into `Turn`s, the policy's decision over them, and the
ticket's transcript. No Rasa or rasa-sdk import: the actions pass the events and slots in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from handoff.config import RoutingConfig
from handoff.policy import Decision, decide, language_evidence
from handoff.redaction import redact_transcript
from handoff.tickets import transcript
from handoff.turns import Turn

# After these events the bot has the conversation afresh: anger, fallbacks and language from
# before them must not send the customer straight back to a queue.
HISTORY_RESETS = {"session_started", "restart", "resume"}


@dataclass(frozen=True)
class Analysis:
    """The policy's view of a conversation after its latest user message."""

    language: str
    decision: Decision
    # [{"label": "negative", "polarity": -0.8}, ...] oldest first: the sentiment_trend slot
    trend: list[dict[str, Any]]
    entities: dict[str, str]
    # Whether `language` comes from the customer (their words or their client's hint), not the
    # default: only then is it stored in the conversation's `language` slot.
    language_known: bool = True


def user_turns(events: Iterable[Mapping[str, Any]]) -> list[Turn]:
    """The user messages since the bot last (re)took the conversation, oldest first.

    Messages later reverted by a fallback count: the customer did write them.
    """
    turns: list[Turn] = []
    for event in events:
        if event.get("event") in HISTORY_RESETS:
            turns = []
        elif event.get("event") == "user":
            turns.append(Turn.from_parse(event.get("parse_data") or {}))
    return turns


def analyse(
    events: Iterable[Mapping[str, Any]],
    latest_message: Mapping[str, Any],
    slots: Mapping[str, Any],
    config: RoutingConfig,
) -> Analysis:
    """Run the routing policy over the conversation so far (every action sees the same).

    ``slots`` are the tracker's current values; ``language`` and ``order_number`` are read.
    """
    *history, turn = user_turns(events) or [Turn.from_parse(latest_message)]
    known = language_evidence(turn, slots.get("language"), config) or slots.get("language")
    language = known or config.default_language  # what conversation_language returns
    entities: dict[str, str] = {}
    for earlier in [*history, turn]:
        entities.update(earlier.entities)
    if slots.get("order_number"):
        entities["order_number"] = str(slots["order_number"])
    recent = [*history, turn][-config.handoff.history_turns :]
    return Analysis(
        language=language,
        decision=decide(turn, history, language, config),
        trend=[{"label": t.sentiment, "polarity": round(t.polarity, 2)} for t in recent],
        entities=entities,
        language_known=bool(known),
    )


def ticket_transcript(
    events: Iterable[Mapping[str, Any]], config: RoutingConfig
) -> list[dict[str, Any]]:
    """The conversation's last messages for the ticket, redacted when the config says so."""
    lines = transcript(events, config.handoff.transcript_turns)
    return redact_transcript(lines) if config.handoff.redact_transcript else lines
