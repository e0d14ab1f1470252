"""What the routing policy knows about one user message: a `Turn`, read from Rasa's parse
result with lingodesk's `language`, `sentiment`, `anger` and `signals` keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Intents of the ranking kept on a turn (a message can carry two intents).
RANKED_INTENTS = 5


@dataclass(frozen=True)
class Turn:
    """What the policy knows about one user message."""

    intent: str | None = None
    language: str | None = None
    language_confidence: float = 0.0
    # What decided `language` (nlu_components.core.language_id): "model" (the text itself),
    # "metadata" (the client's hint), "session" (carried over) or "default".
    language_source: str = "model"
    sentiment: str | None = None
    sentiment_confidence: float = 0.0
    # P(positive) - P(negative): -1 (furious) .. +1 (delighted).
    polarity: float = 0.0
    entities: Mapping[str, str] = field(default_factory=dict)
    # The NLU's anger intensity, 0 (calm) .. 1 (angry); None when the NLU gives none (then
    # the policy reads the sentiment instead).
    anger: float | None = None
    # The NLU's handoff signals, 0..1: "wants_human", "threat" (absent: not given).
    signals: Mapping[str, float] = field(default_factory=dict)
    # The top intents with their confidence, best first.
    intent_ranking: tuple[tuple[str, float], ...] = ()
    text: str = ""

    @classmethod
    def from_parse(cls, parse: Mapping[str, Any]) -> Turn:
        """Read Rasa's parse result.

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
        anger = (parse.get("anger") or {}).get("score")
        ranking = tuple(
            (str(item["name"]), float(item.get("confidence") or 0.0))
            for item in (parse.get("intent_ranking") or [])[:RANKED_INTENTS]
            if isinstance(item, Mapping) and item.get("name")
        )
        return cls(
            intent=(parse.get("intent") or {}).get("name"),
            language=language.get("code"),
            language_confidence=float(language.get("confidence") or 0.0),
            language_source=str(language.get("source") or "model"),
            sentiment=label,
            sentiment_confidence=confidence,
            polarity=polarity,
            entities=entities,
            anger=None if anger is None else float(anger),
            signals={str(k): float(v) for k, v in (parse.get("signals") or {}).items()},
            intent_ranking=ranking,
            text=str(parse.get("text") or ""),
        )
