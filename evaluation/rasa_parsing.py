"""Parsing messages through a trained Rasa model exactly as the server parses them: the one
way ``lingodesk evaluate`` and the stock-Rasa benchmark pipeline (``benchmarks/rasa_default.py``)
get Rasa's predictions.

:class:`RasaParser` loads the model through Rasa's ``Agent`` and parses one message at a time
with ``processor.parse_message``, on one event loop for all of them (a message at a time is
what the latency figures time). A FallbackClassifier's ``nlu_fallback`` is undone the way
``rasa test nlu`` undoes it, so the classifier's own guess is what gets scored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.rasa_data import ANGER_KEY, SENTIMENT_KEY
from evaluation.records import Annotation, EvaluationError, Record, short_message
from nlu_components.core.examples import EntitySpan


def quiet_rasa() -> None:
    """Warnings and errors only from Rasa and TensorFlow: a debug line per parsed message
    would drown the report."""
    import logging

    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)


async def parse_message(agent: Any, text: str) -> tuple[dict[str, Any], bool]:
    """Rasa's parse result for ``text`` as the server computes it, and whether the
    FallbackClassifier answered ``nlu_fallback`` (that prediction undone in the result)."""
    from rasa.core.channels.channel import UserMessage
    from rasa.nlu.classifiers import fallback_classifier

    result = await agent.processor.parse_message(UserMessage(text))
    fell_back = fallback_classifier.is_fallback_classifier_prediction(result)
    if fell_back:
        result = fallback_classifier.undo_fallback_prediction(result)
    return result, fell_back


class RasaParser:
    """A trained Rasa model (an archive, as ``rasa train`` writes it) loaded for parsing."""

    def __init__(self, model: str | Path) -> None:
        from rasa.core.agent import Agent

        quiet_rasa()
        self.agent = Agent.load(str(model))
        if not self.agent.is_ready():
            raise EvaluationError(f"{model} has no NLU model to evaluate")
        self._loop = asyncio.new_event_loop()
        weakref.finalize(self, self._loop.close)

    def parse(self, text: str) -> tuple[dict[str, Any], bool]:
        """:func:`parse_message` of ``text``, on this parser's event loop."""
        return self._loop.run_until_complete(parse_message(self.agent, text))

    def close(self) -> None:
        self._loop.close()


def entity_spans(result: dict[str, Any]) -> list[EntitySpan]:
    """The entities of a parse result as character spans (entities without offsets, which
    no span metric can score, are left out)."""
    return [
        EntitySpan(
            e["start"],
            e["end"],
            e["entity"],
            e.get("role"),
            e.get("group"),
            float(e.get("confidence_entity") or 1.0),
        )
        for e in result.get("entities") or []
        if e.get("start") is not None and e.get("end") is not None
    ]


def language_of(result: dict[str, Any]) -> str | None:
    """The language code lingodesk's language ID put in a parse result, if any."""
    language = result.get("language")
    return language.get("code") if isinstance(language, dict) else None


def predicted_record(parser: RasaParser, record: Record) -> Record:
    """``record`` with what the model predicts for its text; where the model identifies
    languages, also for its :func:`~evaluation.records.short_message`."""
    result, fell_back = parser.parse(record.text)
    short_language = None
    if language_of(result) is not None:
        short_text = short_message(record.text, record.gold.language)
        short_language = language_of(parser.parse(short_text)[0])
    sentiment = result.get(SENTIMENT_KEY)
    anger = result.get(ANGER_KEY) if isinstance(result.get(ANGER_KEY), dict) else {}
    intent = result.get("intent") or {}
    annotation = Annotation(
        intent=intent.get("name"),
        confidence=intent.get("confidence"),
        entities=tuple(entity_spans(result)),
        sentiment=sentiment.get("label") if isinstance(sentiment, dict) else None,
        language=language_of(result),
        short_language=short_language,
        fallback=fell_back,
        anger=anger.get("score"),
        anger_level=anger.get("level"),
        uncalibrated_anger=anger.get("uncalibrated"),
    )
    return dataclasses.replace(record, predicted=annotation)


def parse_records(model: Path, records: Sequence[Record]) -> list[Record]:
    """``records`` with what the model at ``model`` predicts for each."""
    parser = RasaParser(model)
    try:
        return [predicted_record(parser, record) for record in records]
    finally:
        parser.close()
