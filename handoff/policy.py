"""The routing policy: after each user message, does the conversation stay with the bot or go
to a human, to which queue, with which priority, and why.

Plain Python on purpose (no Rasa, no Redis, no YAML): the decision is the part of the handoff
that people argue about, so it must be testable over a table of conversations in
milliseconds. `decide` reads one `Turn` per user message (built from Rasa's parse result by
`Turn.from_parse`) and a `RoutingConfig` (handoff/config.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from handoff.config import LANGUAGE_NAMES, PRIORITIES, RoutingConfig


@dataclass(frozen=True)
class Turn:
    """What the policy knows about one user message."""

    intent: str | None = None
    language: str | None = None
    language_confidence: float = 0.0
    sentiment: str | None = None
    sentiment_confidence: float = 0.0
    # P(positive) - P(negative): -1 (furious) .. +1 (delighted).
    polarity: float = 0.0
    entities: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_parse(cls, parse: Mapping[str, Any]) -> Turn:
        """Read Rasa's parse result with lingodesk's `language` and `sentiment` keys.

        Missing keys (a message the NLU did not annotate, an external event) give a neutral,
        language-less turn rather than an error: the policy must never break a conversation.
        """
        language = parse.get("language") or {}
        sentiment = parse.get("sentiment") or {}
        scores = sentiment.get("scores") or {}
        label = sentiment.get("label")
        confidence = float(sentiment.get("confidence") or 0.0)
        if scores:
            polarity = float(scores.get("positive", 0.0)) - float(scores.get("negative", 0.0))
        else:
            polarity = {"positive": confidence, "negative": -confidence}.get(label, 0.0)
        entities = {
            str(e["entity"]): str(e["value"])
            for e in parse.get("entities") or []
            if e.get("entity") and e.get("value") is not None
        }
        return cls(
            intent=(parse.get("intent") or {}).get("name"),
            language=language.get("code"),
            language_confidence=float(language.get("confidence") or 0.0),
            sentiment=label,
            sentiment_confidence=confidence,
            polarity=polarity,
            entities=entities,
        )


@dataclass(frozen=True)
class Stay:
    """The bot keeps the conversation."""


@dataclass(frozen=True)
class Escalate:
    """Hand the conversation to a human."""

    queue: str
    priority: int  # index into PRIORITIES
    # A sentence or two for the agent, stored with the ticket.
    reason: str
    # Names of the rules that fired (explicit_request, anger, repeated_fallback, language).
    rules: tuple[str, ...] = ()

    @property
    def priority_name(self) -> str:
        return PRIORITIES[self.priority]


Decision = Stay | Escalate


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def conversation_language(turn: Turn, previous: str | None, config: RoutingConfig) -> str:
    """The customer's language after this message.

    A confident detection wins (also for a language the bot does not serve: the ticket must
    carry it, and replies fall back to the default language through the domain's responses).
    Otherwise the conversation keeps its language; a first, unsure message counts only when it
    is in a served language.
    """
    if turn.language and turn.language_confidence >= config.language_confidence:
        return turn.language
    if previous:
        return previous
    if turn.language in config.served_languages:
        return turn.language
    return config.default_language


def _explicit_request(turn: Turn, _: Sequence[Turn], config: RoutingConfig) -> str | None:
    if turn.intent in config.rules.explicit_request.intents:
        return "The customer asked to talk to a person."
    return None


def _anger(turn: Turn, recent: Sequence[Turn], config: RoutingConfig) -> str | None:
    rule = config.rules.anger
    window = recent[-rule.window :]
    angry = sum(
        t.sentiment == "negative" and t.sentiment_confidence >= rule.min_confidence for t in window
    )
    if angry >= rule.turns:
        return (
            f"The customer is angry: negative sentiment in {angry} of the last "
            f"{len(window)} messages."
        )
    if len(recent) >= 2 and turn.sentiment == "negative":
        before = recent[-2].polarity
        if before - turn.polarity >= rule.sharp_drop:
            return (
                f"The customer's mood dropped sharply (polarity {before:+.2f} -> "
                f"{turn.polarity:+.2f})."
            )
    return None


def _repeated_fallback(turn: Turn, recent: Sequence[Turn], config: RoutingConfig) -> str | None:
    rule = config.rules.repeated_fallback
    window = recent[-rule.window :]
    misses = sum(t.intent == rule.intent for t in window)
    if misses >= rule.turns:
        return f"The bot did not understand {misses} of the last {len(window)} messages."
    return None


def _unserved_language(turn: Turn, _: Sequence[Turn], config: RoutingConfig) -> str | None:
    code = turn.language
    if (
        code
        and turn.language_confidence >= config.language_confidence
        and code not in config.served_languages
    ):
        return (
            f"The customer writes {language_name(code)} ({code}, confidence "
            f"{turn.language_confidence:.2f}), which the bot does not serve."
        )
    return None


RULES = (
    ("explicit_request", _explicit_request),
    ("anger", _anger),
    ("repeated_fallback", _repeated_fallback),
    ("language", _unserved_language),
)


def parse_amount(text: str) -> float | None:
    """Read an order value as people write it: "1.299,90", "1,299.90", "€ 500", "75000"."""
    digits = re.sub(r"[^\d.,]", "", text)
    if not re.search(r"\d", digits):
        return None
    last_separator = max(digits.rfind(","), digits.rfind("."))
    # A separator followed by exactly one or two digits is the decimal mark.
    if last_separator >= 0 and 1 <= len(digits) - last_separator - 1 <= 2:
        whole = re.sub(r"[.,]", "", digits[:last_separator])
        number = f"{whole}.{digits[last_separator + 1 :]}"
    else:
        number = re.sub(r"[.,]", "", digits)
    try:
        return float(number)
    except ValueError:
        return None


def _high_value_order(recent: Sequence[Turn], config: RoutingConfig) -> str | None:
    """The largest order value of the conversation at or over its currency's threshold."""
    best: tuple[float, str] | None = None
    for turn in recent:
        amount = parse_amount(turn.entities.get("amount", ""))
        currency = turn.entities.get("currency", "").upper()
        if amount is None or amount < config.priority.threshold(currency):
            continue
        if best is None or amount > best[0]:
            best = (amount, currency)
    if best is None:
        return None
    amount, currency = best
    threshold = config.priority.threshold(currency)
    return f"an order of {amount:g} {currency or ''}".rstrip() + f" (from {threshold:g} up)"


def decide(turn: Turn, history: Sequence[Turn], language: str, config: RoutingConfig) -> Decision:
    """Stay with the bot, or escalate: the queue for `language`, a priority and the reason.

    `history` holds the earlier user messages of the conversation since the bot last took it
    over (oldest first), `turn` the message just received, `language` the conversation's
    language from `conversation_language`. Every rule that fires is named in the reason.
    """
    recent = [*history, turn]
    fired = [(name, rule(turn, recent, config)) for name, rule in RULES]
    fired = [(name, sentence) for name, sentence in fired if sentence]
    if not fired:
        return Stay()
    priority = config.priority.base_level
    raised = []
    if any(name == "anger" for name, _ in fired):
        priority += config.priority.anger
        raised.append("anger")
    order = _high_value_order(recent, config)
    if order:
        priority += config.priority.high_value_order
        raised.append(order)
    priority = max(0, min(priority, len(PRIORITIES) - 1))
    queue = config.queue_for(language)
    summary = f"Priority {PRIORITIES[priority]}"
    summary += f", raised for {' and '.join(raised)}." if raised else "."
    reason = " ".join([*(sentence for _, sentence in fired), f"Queue {queue}.", summary])
    return Escalate(
        queue=queue, priority=priority, reason=reason, rules=tuple(name for name, _ in fired)
    )


def reopened(language: str, reason: str | None, config: RoutingConfig) -> Escalate:
    """The escalation for a conversation whose open ticket outlived the bot's pause.

    Rasa un-pauses a conversation when a new session starts; the ticket is still open, so the
    conversation goes back to the queue it was in (the ticket is updated, not duplicated).
    """
    return Escalate(
        queue=config.queue_for(language),
        priority=config.priority.base_level,
        reason=reason or "The customer came back while their ticket was still open.",
        rules=("open_ticket",),
    )
