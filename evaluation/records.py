"""What the report scores: one :class:`Record` per test utterance, gold against predicted."""

from __future__ import annotations

from dataclasses import dataclass

from nlu_components.core.examples import EntitySpan

# Languages written without spaces between words: a "short message" is cut by characters.
UNSPACED_LANGUAGES = ("zh", "ja")


class EvaluationError(RuntimeError):
    """Test data or model that cannot be evaluated; the message says what to fix."""


def short_message(text: str, language: str | None) -> str:
    """The chat-sized prefix of a sentence, where language ID fails in chat: two words, or
    four characters (spaces left out) where words are not separated by spaces."""
    if language in UNSPACED_LANGUAGES:
        return "".join(text.split())[:4]
    return " ".join(text.split()[:2])


@dataclass(frozen=True)
class Annotation:
    """What an utterance is (gold) or what a model said it is (predicted); ``None`` where
    that is unknown or the model does not produce it.

    ``entities=None`` means "not annotated" (nothing to score), ``()`` "annotated, none".
    ``language`` is the language ID of the whole text and ``short_language`` that of its
    :func:`short_message`; a gold annotation leaves ``short_language`` unset.
    ``fallback`` is a prediction the bot's FallbackClassifier turned into ``nlu_fallback``;
    ``intent`` still holds the classifier's own guess, as ``rasa test nlu`` scores it.
    ``anger`` is an intensity 0..1: gold, the labelled level's (calm 0, frustrated 0.5,
    angry 1); predicted, the calibrated score with the ``anger_level`` the parse result gives
    it, and ``uncalibrated_anger`` the signals head's own score.
    """

    intent: str | None = None
    confidence: float | None = None
    entities: tuple[EntitySpan, ...] | None = None
    sentiment: str | None = None
    language: str | None = None
    short_language: str | None = None
    fallback: bool = False
    anger: float | None = None
    anger_level: str | None = None
    uncalibrated_anger: float | None = None


@dataclass(frozen=True)
class Record:
    """One test utterance: its text, the language the report files it under (the test
    file's name), and gold against predicted."""

    text: str
    language: str
    gold: Annotation
    predicted: Annotation


def gold_record(text: str, group: str, gold: Annotation) -> Record:
    """A test utterance as read from its file: nothing predicted yet."""
    return Record(text, group, gold, Annotation())
