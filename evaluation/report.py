"""The numbers a multilingual desk needs beside ``rasa test nlu``'s one accuracy: intent,
entity, sentiment and language-ID quality per language, intent-confidence calibration (for
choosing fallback thresholds) and the worst confusions, written as JSON, Markdown
(:mod:`evaluation.report_markdown`) and PNGs (:mod:`evaluation.report_plots`).

Framework-free: everything here works on :class:`~evaluation.records.Record` lists of gold and
predicted annotations, so ``lingodesk evaluate`` (which parses through Rasa,
:mod:`evaluation.rasa_parsing`) and the benchmarks share one implementation of each metric.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evaluation.metrics import (
    calibration,
    detection_scores,
    entity_scores,
    intent_scores,
    label_scores,
)
from evaluation.records import Record
from evaluation.report_markdown import markdown
from evaluation.report_plots import write_plots
from nlu_components.core.examples import ANGER_LEVELS, SENTIMENT_LABELS, anger_level

NO_PREDICTION = "(none)"
WORST_CONFUSIONS = 10
EXAMPLES_PER_CONFUSION = 3

REPORT_JSON = "report.json"
REPORT_MARKDOWN = "report.md"


def _intents_scored(records: Sequence[Record]) -> list[Record]:
    """Records with a gold intent, or none at all for a model that predicts no intents."""
    scored = [r for r in records if r.gold.intent]
    return [] if all(r.predicted.intent is None for r in scored) else scored


def _intent_calibration(records: Sequence[Record]) -> dict[str, Any] | None:
    scored = [r for r in _intents_scored(records) if r.predicted.confidence is not None]
    if not scored:
        return None
    return calibration(
        [r.predicted.confidence or 0.0 for r in scored],
        [r.gold.intent == r.predicted.intent for r in scored],
    )


def _intent_section(records: Sequence[Record]) -> dict[str, Any] | None:
    scored = _intents_scored(records)
    if not scored:
        return None
    calibrated = _intent_calibration(scored)
    return {
        **intent_scores(
            [r.gold.intent or "" for r in scored],
            [r.predicted.intent or NO_PREDICTION for r in scored],
        ),
        "examples": len(scored),
        "fallback_rate": sum(r.predicted.fallback for r in scored) / len(scored),
        "ece": calibrated["ece"] if calibrated else None,
    }


def _entity_section(records: Sequence[Record]) -> dict[str, Any] | None:
    scored = [r for r in records if r.gold.entities is not None]
    if not scored:
        return None
    scores = entity_scores(
        [r.text for r in scored],
        [r.gold.entities or () for r in scored],
        [r.predicted.entities or () for r in scored],
    )
    return {**scores, "examples": len(scored)}


def _sentiment_section(records: Sequence[Record]) -> dict[str, Any] | None:
    scored = [r for r in records if r.gold.sentiment and r.predicted.sentiment]
    if not scored:
        return None
    scores = label_scores(
        [r.gold.sentiment or "" for r in scored],
        [r.predicted.sentiment or "" for r in scored],
        SENTIMENT_LABELS,
    )
    return {**scores, "examples": len(scored)}


def _anger_section(records: Sequence[Record], calibrated: bool = True) -> dict[str, Any] | None:
    """The signals head's anger against the labels, for the two levels routing acts on:
    ``upset`` (frustrated or angry) and ``angry``. Calibrated: the score and level the parse
    result reports; else the head's own score at the default thresholds (before
    calibration)."""
    scored = [r for r in records if r.gold.anger is not None and r.predicted.anger is not None]
    if not calibrated:
        scored = [r for r in scored if r.predicted.uncalibrated_anger is not None]
    if not scored:
        return None
    if calibrated:
        scores = [r.predicted.anger or 0.0 for r in scored]
        levels = [r.predicted.anger_level for r in scored]
    else:
        scores = [r.predicted.uncalibrated_anger or 0.0 for r in scored]
        levels = [anger_level(score) for score in scores]
    sections = {}
    for name, reached in (("upset", ("frustrated", "angry")), ("angry", ("angry",))):
        floor = min(ANGER_LEVELS[level] for level in reached)
        sections[name] = detection_scores(
            scores,
            [(r.gold.anger or 0.0) >= floor for r in scored],
            [level in reached for level in levels],
        )
    return {"examples": len(scored), **sections}


def _language_id_section(records: Sequence[Record]) -> dict[str, Any] | None:
    scored = [r for r in records if r.gold.language and r.predicted.language]
    if not scored:
        return None
    short = [r for r in scored if r.predicted.short_language]
    return {
        "accuracy": sum(r.predicted.language == r.gold.language for r in scored) / len(scored),
        "short_accuracy": (
            sum(r.predicted.short_language == r.gold.language for r in short) / len(short)
            if short
            else None
        ),
        "examples": len(scored),
    }


def _section(records: Sequence[Record]) -> dict[str, Any]:
    return {
        "examples": len(records),
        "intent": _intent_section(records),
        "entities": _entity_section(records),
        "sentiment": _sentiment_section(records),
        "anger": _anger_section(records),
        "anger_uncalibrated": _anger_section(records, calibrated=False),
        "language_id": _language_id_section(records),
    }


def worst_confusions(
    records: Sequence[Record],
    top: int = WORST_CONFUSIONS,
    examples: int = EXAMPLES_PER_CONFUSION,
) -> list[dict[str, Any]]:
    """The most frequent (gold intent, predicted intent) mistakes, each with example
    messages, most confident first (those are the ones a fallback threshold cannot catch)."""
    mistakes: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for record in _intents_scored(records):
        gold, predicted = record.gold.intent or "", record.predicted.intent
        if predicted != gold:
            mistakes[(gold, predicted or NO_PREDICTION)].append(record)
    ranked = sorted(mistakes.items(), key=lambda item: (-len(item[1]), item[0]))[:top]
    return [
        {
            "gold": gold,
            "predicted": predicted,
            "count": len(wrong),
            "languages": dict(Counter(r.language for r in wrong).most_common()),
            "examples": [
                {"text": r.text, "language": r.language, "confidence": r.predicted.confidence}
                for r in sorted(wrong, key=lambda r: -(r.predicted.confidence or 0.0))[:examples]
            ],
        }
        for (gold, predicted), wrong in ranked
    ]


def _intent_confusion(records: Sequence[Record]) -> dict[str, Any] | None:
    from sklearn.metrics import confusion_matrix

    scored = _intents_scored(records)
    if not scored:
        return None
    gold = [r.gold.intent or "" for r in scored]
    predicted = [r.predicted.intent or NO_PREDICTION for r in scored]
    labels = sorted(set(gold)) + sorted(set(predicted) - set(gold))
    return {
        "labels": labels,
        "matrix": confusion_matrix(gold, predicted, labels=labels).tolist(),
    }


def build_report(
    records: Sequence[Record], trained_languages: Iterable[str] | None = None
) -> dict[str, Any]:
    """Every metric, overall and per language, as one JSON-ready dict.

    ``trained_languages`` (when known) marks the other languages ``zero_shot``: they only
    work through cross-lingual transfer. Languages are listed trained first, then zero-shot.
    """
    trained = set(trained_languages) if trained_languages is not None else None
    by_language: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_language[record.language].append(record)
    zero_shot = {lang: None if trained is None else lang not in trained for lang in by_language}
    order = sorted(by_language, key=lambda lang: (bool(zero_shot[lang]), lang))
    per_language = {
        lang: {"zero_shot": zero_shot[lang], **_section(by_language[lang])} for lang in order
    }
    return {
        "examples": len(records),
        "overall": _section(records),
        "per_language": per_language,
        "calibration": _intent_calibration(records),
        "intent_confusion": _intent_confusion(records),
        "worst_confusions": worst_confusions(records),
    }


def write_report(report: dict[str, Any], directory: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the PNG plots into ``directory``; return the
    files written. The plots are drawn from the report alone, so JSON and pictures agree."""
    directory.mkdir(parents=True, exist_ok=True)
    plots = write_plots(report, directory)
    report = {**report, "plots": [path.name for path in plots]}
    json_path = directory / REPORT_JSON
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown_path = directory / REPORT_MARKDOWN
    markdown_path.write_text(markdown(report), encoding="utf-8")
    return [json_path, markdown_path, *plots]
