"""The escalation rules: each reads the conversation's recent user messages and, when it
fires, returns the sentence the agent reads in the ticket's reason (None otherwise)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from handoff.config import LANGUAGE_NAMES, RoutingConfig
from handoff.turns import Turn

Rule = Callable[[Turn, Sequence[Turn], RoutingConfig], "str | None"]
# Two messages whose character trigrams overlap this much say the same thing again.
REPEAT_SIMILARITY = 0.6


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def explicit_request(turn: Turn, _: Sequence[Turn], config: RoutingConfig) -> str | None:
    rule = config.rules.explicit_request
    if turn.intent in rule.intents:
        return "The customer asked to talk to a person."
    wants = turn.signals.get("wants_human")
    if wants is not None and wants >= rule.signal_threshold:
        return f"The customer asked to talk to a person (alongside {turn.intent or 'a message'})."
    if turn.intent_ranking:
        top = turn.intent_ranking[0][1]
        for name, confidence in turn.intent_ranking[1:]:
            if (
                name in rule.intents
                and confidence >= rule.near_top_confidence
                and top - confidence <= rule.near_top_margin
            ):
                return (
                    f"The customer asked to talk to a person ({name} {confidence:.2f} beside "
                    f"{turn.intent} {top:.2f})."
                )
    return None


def _normalised_trigrams(text: str) -> set[str]:
    letters = re.sub(r"[\W_]+", " ", text.casefold()).strip()
    return {letters[i : i + 3] for i in range(max(0, len(letters) - 2))}


def repeats_earlier(turn: Turn, earlier: Sequence[Turn]) -> bool:
    """Whether the customer says again what they said before (the bot did not help)."""
    mine = _normalised_trigrams(turn.text)
    if len(mine) < 3:
        return False
    for other in earlier:
        theirs = _normalised_trigrams(other.text)
        if theirs and len(mine & theirs) / len(mine | theirs) >= REPEAT_SIMILARITY:
            return True
    return False


def anger(turn: Turn, recent: Sequence[Turn], config: RoutingConfig) -> str | None:
    rule = config.rules.anger
    window = recent[-rule.window :]
    if turn.anger is not None:
        if turn.anger >= rule.strong:
            return f"The customer is very angry (anger {turn.anger:.2f} in their last message)."
        frustrated = [t for t in window if t.anger is not None and t.anger >= rule.frustrated]
        if len(frustrated) >= rule.turns:
            return (
                f"The customer is angry: frustrated or angry in {len(frustrated)} of the last "
                f"{len(window)} messages."
            )
        if rule.after_failure and turn.anger >= rule.frustrated:
            # A fallback on this very message counts: the bot is about to answer a
            # frustrated customer with "sorry, I did not understand".
            failed = any(
                t.intent == config.rules.repeated_fallback.intent for t in window
            ) or repeats_earlier(turn, window[:-1])
            if failed:
                return (
                    f"The customer is frustrated and the bot failed them (anger "
                    f"{turn.anger:.2f} with a misunderstanding or a repeated question)."
                )
    else:
        negative = sum(
            t.sentiment == "negative" and t.sentiment_confidence >= rule.min_confidence
            for t in window
        )
        if negative >= rule.turns:
            return (
                f"The customer is angry: negative sentiment in {negative} of the last "
                f"{len(window)} messages."
            )
    return _sharp_drop(turn, recent, config)


def _sharp_drop(turn: Turn, recent: Sequence[Turn], config: RoutingConfig) -> str | None:
    if len(recent) >= 2 and turn.sentiment == "negative":
        before = recent[-2].polarity
        if before - turn.polarity >= config.rules.anger.sharp_drop:
            return (
                f"The customer's mood dropped sharply (polarity {before:+.2f} -> "
                f"{turn.polarity:+.2f})."
            )
    return None


def threat(turn: Turn, _: Sequence[Turn], config: RoutingConfig) -> str | None:
    score = turn.signals.get("threat")
    if score is not None and score >= config.rules.threat.threshold:
        return (
            f"The customer threatens consequences: legal action, a chargeback, leaving or a "
            f"public complaint (threat {score:.2f})."
        )
    return None


def repeated_fallback(turn: Turn, recent: Sequence[Turn], config: RoutingConfig) -> str | None:
    rule = config.rules.repeated_fallback
    window = recent[-rule.window :]
    misses = sum(t.intent == rule.intent for t in window)
    if misses >= rule.turns:
        return f"The bot did not understand {misses} of the last {len(window)} messages."
    return None


def unserved_language(turn: Turn, _: Sequence[Turn], config: RoutingConfig) -> str | None:
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


RULES: tuple[tuple[str, Rule], ...] = (
    ("explicit_request", explicit_request),
    ("anger", anger),
    ("threat", threat),
    ("repeated_fallback", repeated_fallback),
    ("language", unserved_language),
)
