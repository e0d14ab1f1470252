"""The data the multitask model trains on and predicts, independent of any framework."""

from __future__ import annotations

from dataclasses import dataclass, field

SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
# Per-message scores 0..1 the signals head learns beside the sentiment: how angry the
# customer is, whether they ask for a person (whatever the intent), whether they threaten
# consequences (a lawyer, a chargeback, leaving, a public review).
ANGER = "anger"
SIGNALS: tuple[str, ...] = (ANGER, "wants_human", "threat")
# Anger levels as annotated in the training data, as the intensity the head learns.
ANGER_LEVELS: dict[str, float] = {"calm": 0.0, "frustrated": 0.5, "angry": 1.0}
# The scores from which a message is "frustrated" / "angry" (below: "calm"), by default.
ANGER_THRESHOLDS: dict[str, float] = {"frustrated": 0.4, "angry": 0.75}


def anger_level(score: float, thresholds: dict[str, float] = ANGER_THRESHOLDS) -> str:
    """The level an anger score reaches."""
    if score >= thresholds["angry"]:
        return "angry"
    return "frustrated" if score >= thresholds["frustrated"] else "calm"


@dataclass(frozen=True)
class EntitySpan:
    """An entity as character offsets into the text (``text[start:end]`` is its surface)."""

    start: int
    end: int
    entity: str
    role: str | None = None
    group: str | None = None
    confidence: float = 1.0

    @property
    def label(self) -> str:
        """The tag label the entity head learns: ``entity``[``@role``][``#group``]."""
        label = self.entity
        if self.role:
            label += f"@{self.role}"
        if self.group:
            label += f"#{self.group}"
        return label

    @classmethod
    def from_label(cls, start: int, end: int, label: str, confidence: float = 1.0) -> EntitySpan:
        """Inverse of :attr:`label`."""
        rest, _, group = label.partition("#")
        entity, _, role = rest.partition("@")
        return cls(start, end, entity, role or None, group or None, confidence)


@dataclass
class Example:
    """One utterance.

    ``words`` are character spans from a word tokenizer (the entity head labels words, so
    entity boundaries are word boundaries). A task label that is ``None`` is unknown and that
    example is masked out of that task's loss; ``entities=None`` means "not annotated", while
    ``[]`` means "annotated, and there are none".
    """

    text: str
    words: list[tuple[int, int]] = field(default_factory=list)
    intent: str | None = None
    sentiment: str | None = None
    entities: list[EntitySpan] | None = None
    # Known signal targets (0..1) by name of SIGNALS; a missing signal is unknown (masked).
    signals: dict[str, float] = field(default_factory=dict)
    # The language the text is written in (ISO 639-1), where known: anger is calibrated per
    # language.
    language: str | None = None

    def __post_init__(self) -> None:
        if not self.words:
            self.words = whitespace_words(self.text)
        for name, value in self.signals.items():
            if name not in SIGNALS or not 0.0 <= value <= 1.0:
                raise ValueError(f"signals are {SIGNALS} with values 0..1, got {name!r}: {value}")
        if self.sentiment is not None and self.sentiment not in SENTIMENT_LABELS:
            raise ValueError(
                f"sentiment must be one of {SENTIMENT_LABELS} or None, got {self.sentiment!r}"
            )


@dataclass
class NLUPrediction:
    """What the model says about one utterance."""

    intent_ranking: list[tuple[str, float]]
    sentiment: str
    sentiment_scores: dict[str, float]
    entities: list[EntitySpan]
    # The signals the model was trained on, each 0..1 (empty for a model without them);
    # anger calibrated for the text's language where the model has a calibration.
    signals: dict[str, float] = field(default_factory=dict)
    # The anger head's own score before calibration (None: no anger signal).
    uncalibrated_anger: float | None = None

    @property
    def intent(self) -> str | None:
        """The top intent; None for a model trained without intents."""
        return self.intent_ranking[0][0] if self.intent_ranking else None

    @property
    def intent_confidence(self) -> float:
        return self.intent_ranking[0][1] if self.intent_ranking else 0.0


def whitespace_words(text: str) -> list[tuple[int, int]]:
    """Character spans of whitespace-separated words: the fallback when no tokenizer ran."""
    spans: list[tuple[int, int]] = []
    start = None
    for index, char in enumerate(text):
        if char.isspace():
            if start is not None:
                spans.append((start, index))
                start = None
        elif start is None:
            start = index
    if start is not None:
        spans.append((start, len(text)))
    return spans
