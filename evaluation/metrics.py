"""Metrics on plain lists, framework-free: the one implementation of each that ``lingodesk
evaluate``'s report and every benchmark suite compute their figures with."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from nlu_components.core.bio import spans_to_tags
from nlu_components.core.examples import EntitySpan

CALIBRATION_BINS = 10
FALLBACK_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def intent_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1 over the gold labels' classes."""
    from sklearn.metrics import f1_score

    labels = sorted(set(gold))
    return {
        "accuracy": sum(g == p for g, p in zip(gold, predicted)) / max(1, len(gold)),
        "macro_f1": float(
            f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)
        ),
    }


def label_scores(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 over ``labels``, precision/recall/F1 per label and the confusion
    matrix (rows gold, columns predicted, in ``labels`` order)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=list(labels), zero_division=0
    )
    return {
        "accuracy": sum(g == p for g, p in zip(gold, predicted)) / max(1, len(gold)),
        "macro_f1": float(f1.mean()),
        "per_label": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": {
            "labels": list(labels),
            "matrix": confusion_matrix(gold, predicted, labels=list(labels)).tolist(),
        },
    }


def span_scores(
    gold_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Exact-span precision/recall/F1 from BIO tag sequences (seqeval's default mode), per
    entity type and micro-averaged over all spans."""
    from seqeval.metrics import classification_report

    if not any(tag != "O" for tags in (*gold_tags, *predicted_tags) for tag in tags):
        return {"micro": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}, "per_type": {}}
    report = classification_report(
        [list(t) for t in gold_tags],
        [list(t) for t in predicted_tags],
        output_dict=True,
        zero_division=0,
    )

    def scores(row: dict[str, Any]) -> dict[str, float | int]:
        return {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }

    return {
        "micro": scores(report["micro avg"]),
        "per_type": {
            name: scores(row) for name, row in sorted(report.items()) if not name.endswith(" avg")
        },
    }


def character_tags(text: str, spans: Iterable[EntitySpan]) -> list[str]:
    """BIO tags over the text's non-space characters, by entity type (role and group left
    out). Tagging characters makes span comparison exact in every script, with or without
    spaces between words, whatever tokenizer the model used."""
    characters = [(i, i + 1) for i, char in enumerate(text) if not char.isspace()]
    return spans_to_tags(characters, [EntitySpan(s.start, s.end, s.entity) for s in spans])


def entity_scores(
    texts: Sequence[str],
    gold: Sequence[Iterable[EntitySpan]],
    predicted: Sequence[Iterable[EntitySpan]],
) -> dict[str, Any]:
    """Exact character-span precision/recall/F1 per entity type and micro-averaged."""
    return span_scores(
        [character_tags(t, g) for t, g in zip(texts, gold)],
        [character_tags(t, p) for t, p in zip(texts, predicted)],
    )


def calibration(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = CALIBRATION_BINS
) -> dict[str, Any]:
    """Reliability of a classifier's confidence.

    ``ece`` is the expected calibration error over ``bins`` equal-width confidence bins (the
    share-weighted gap between mean confidence and accuracy). ``thresholds`` answers "what
    would a FallbackClassifier threshold of t do": the share of messages it lets through
    (``coverage``), their accuracy, and the share of wrong predictions it catches.
    """
    total = len(confidences)
    members: list[list[int]] = [[] for _ in range(bins)]
    for index, confidence in enumerate(confidences):
        members[min(int(confidence * bins), bins - 1)].append(index)
    rows, ece = [], 0.0
    for number, indices in enumerate(members):
        row: dict[str, Any] = {
            "lower": number / bins,
            "upper": (number + 1) / bins,
            "count": len(indices),
            "confidence": None,
            "accuracy": None,
        }
        if indices:
            row["confidence"] = sum(confidences[i] for i in indices) / len(indices)
            row["accuracy"] = sum(correct[i] for i in indices) / len(indices)
            ece += len(indices) / total * abs(row["accuracy"] - row["confidence"])
        rows.append(row)
    return {
        "ece": ece,
        "examples": total,
        "bins": rows,
        "thresholds": _threshold_table(confidences, correct),
    }


def _threshold_table(confidences: Sequence[float], correct: Sequence[bool]) -> list[dict[str, Any]]:
    """For each of :data:`FALLBACK_THRESHOLDS`: what a fallback at that confidence lets
    through, how accurate that is, and the share of the wrong predictions it catches."""
    total = len(confidences)
    wrong = sum(not c for c in correct)
    thresholds = []
    for threshold in FALLBACK_THRESHOLDS:
        kept = [c for confidence, c in zip(confidences, correct) if confidence >= threshold]
        caught = sum(not c for confidence, c in zip(confidences, correct) if confidence < threshold)
        thresholds.append(
            {
                "threshold": threshold,
                "coverage": len(kept) / total if total else 0.0,
                "accuracy": sum(kept) / len(kept) if kept else None,
                "errors_caught": caught / wrong if wrong else None,
            }
        )
    return thresholds


def detection_scores(
    scores: Sequence[float], positive: Sequence[bool], flagged: Sequence[bool]
) -> dict[str, Any]:
    """How well a score finds the positives: ``auroc`` (threshold-free; None with only one
    class present), and the ``precision`` and ``recall`` of the ``flagged`` decisions taken at
    the operating point."""
    from sklearn.metrics import roc_auc_score

    positives = sum(positive)
    hits = sum(p and f for p, f in zip(positive, flagged))
    return {
        "examples": len(scores),
        "positives": positives,
        "auroc": (
            float(roc_auc_score(positive, scores)) if 0 < positives < len(positive) else None
        ),
        "precision": hits / sum(flagged) if any(flagged) else None,
        "recall": hits / positives if positives else None,
    }


def percentile(values: Sequence[float], q: int) -> float:
    """The ``q``-th percentile (inclusive method, as the latency suite reports them)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean, 0.0 of nothing (a suite's mean over no language)."""
    return sum(values) / len(values) if values else 0.0
