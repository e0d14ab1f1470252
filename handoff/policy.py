"""The routing policy: after each user message, does the conversation stay with the bot or go
to a human, to which queue, with which priority, and why.

Plain Python on purpose (no Rasa, no Redis, no YAML): the decision is the part of the handoff
that people argue about, so it must be testable over a table of conversations in
milliseconds. `decide` reads one `Turn` per user message (handoff/turns.py, built from Rasa's
parse result) and a `RoutingConfig` (handoff/config.py), applies the rules of
handoff/rules.py and sets the ticket's priority.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from handoff.config import PRIORITIES, RoutingConfig
from handoff.rules import RULES
from handoff.turns import Turn


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
    # Names of the rules that fired (explicit_request, anger, threat, repeated_fallback,
    # language).
    rules: tuple[str, ...] = ()

    @property
    def priority_name(self) -> str:
        return PRIORITIES[self.priority]


Decision = Stay | Escalate


def language_evidence(turn: Turn, known: str | None, config: RoutingConfig) -> str | None:
    """The language this message shows the customer writes, or None when it shows none.

    `known` is the conversation's language so far, itself only ever set from evidence. A
    message without words (``/greet``, emoji, an order number) or one the detector filled in
    from the session or the default is no evidence. A confident detection is (also for a
    language the bot does not serve: the ticket must carry it). While nothing is known yet, an
    unsure detection in a served language and the client's hint (``source: metadata``) are:
    a default is not evidence, a first real message is. Once the customer's own words or a hint
    set the language, only a confident detection changes it.
    """
    if not turn.language or turn.language_source not in ("model", "metadata"):
        return None
    if turn.language_source == "model" and turn.language_confidence >= config.language_confidence:
        return turn.language
    if known is None and (
        turn.language_source == "metadata" or turn.language in config.served_languages
    ):
        return turn.language
    return None


def conversation_language(turn: Turn, previous: str | None, config: RoutingConfig) -> str:
    """The language to answer and route in after this message: new evidence, else what the
    conversation showed before, else the default (which is never stored as evidence)."""
    return language_evidence(turn, previous, config) or previous or config.default_language


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


def _priority(
    fired: Sequence[tuple[str, str]], recent: Sequence[Turn], config: RoutingConfig
) -> tuple[int, list[str]]:
    """The ticket's priority (an index into PRIORITIES) and what raised it."""
    settings = config.priority
    priority, raised = settings.base_level, []
    window = recent[-config.rules.anger.window :]
    frustrated = any(
        t.anger is not None and t.anger >= config.rules.anger.frustrated for t in window
    )
    if frustrated or any(name == "anger" for name, _ in fired):
        priority += settings.anger
        raised.append("anger")
    if any(t.signals.get("threat", 0.0) >= settings.threat_threshold for t in window):
        priority += settings.threat
        raised.append("a threat (legal action, chargeback, leaving or a public complaint)")
    order = _high_value_order(recent, config)
    if order:
        priority += settings.high_value_order
        raised.append(order)
    return max(0, min(priority, len(PRIORITIES) - 1)), raised


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
    priority, raised = _priority(fired, recent, config)
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
