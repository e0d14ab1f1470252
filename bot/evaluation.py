"""The numbers a multilingual desk needs beside ``rasa test nlu``'s one accuracy: intent,
entity, sentiment and language-ID quality per language, intent-confidence calibration (for
choosing fallback thresholds) and the worst confusions, written as JSON, Markdown and PNGs.

Framework-free: everything here works on :class:`Record` lists of gold and predicted
annotations, so ``lingodesk evaluate`` (:mod:`bot.evaluate`, which parses through Rasa) and
the benchmarks share one implementation of each metric.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlu_components.core.bio import spans_to_tags
from nlu_components.core.examples import SENTIMENT_LABELS, EntitySpan

# Languages written without spaces between words: a "short message" is cut by characters.
UNSPACED_LANGUAGES = ("zh", "ja")
NO_PREDICTION = "(none)"
CALIBRATION_BINS = 10
FALLBACK_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
WORST_CONFUSIONS = 10
EXAMPLES_PER_CONFUSION = 3

REPORT_JSON = "report.json"
REPORT_MARKDOWN = "report.md"
PLOT_FILES = {
    "per_language": "per_language.png",
    "intent_confusion": "intent_confusion.png",
    "sentiment_confusion": "sentiment_confusion.png",
    "entity_f1": "entity_f1.png",
    "reliability": "reliability.png",
}


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
    """

    intent: str | None = None
    confidence: float | None = None
    entities: tuple[EntitySpan, ...] | None = None
    sentiment: str | None = None
    language: str | None = None
    short_language: str | None = None
    fallback: bool = False


@dataclass(frozen=True)
class Record:
    """One test utterance: its text, the language the report files it under (the test
    file's name), and gold against predicted."""

    text: str
    language: str
    gold: Annotation
    predicted: Annotation


# -- metrics on plain lists -------------------------------------------------------------------
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
    return {"ece": ece, "examples": total, "bins": rows, "thresholds": thresholds}


# -- the report -------------------------------------------------------------------------------
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
    plots = _write_plots(report, directory)
    report = {**report, "plots": [path.name for path in plots]}
    json_path = directory / REPORT_JSON
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown_path = directory / REPORT_MARKDOWN
    markdown_path.write_text(markdown(report), encoding="utf-8")
    return [json_path, markdown_path, *plots]


# -- Markdown ---------------------------------------------------------------------------------
def _cell(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _get(section: dict[str, Any], *keys: str) -> Any:
    """``section[k1][k2]...``, None where any level is missing (a task the model or the test
    data does not have)."""
    value: Any = section
    for key in keys:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value


_TABLE_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("intent acc", ("intent", "accuracy")),
    ("intent macro-F1", ("intent", "macro_f1")),
    ("intent ECE", ("intent", "ece")),
    ("entity F1", ("entities", "micro", "f1")),
    ("sentiment macro-F1", ("sentiment", "macro_f1")),
    ("negative recall", ("sentiment", "per_label", "negative", "recall")),
    ("language ID", ("language_id", "accuracy")),
    ("short-message language ID", ("language_id", "short_accuracy")),
)


def markdown(report: dict[str, Any]) -> str:
    """The report for people: what to look at first, then the detail."""
    meta = report.get("meta", {})
    lines = ["# NLU evaluation report", ""]
    for key in ("model", "data", "created"):
        if meta.get(key):
            value = meta[key] if isinstance(meta[key], str) else ", ".join(map(str, meta[key]))
            lines.append(f"- {key}: `{value}`")
    lines += [f"- examples: {report['examples']}", ""]

    lines += [
        "## Per language",
        "",
        "Zero-shot languages have no training data: they work only through cross-lingual "
        "transfer. `–`: the model or the test data has no such task.",
        "",
        "| language | examples | zero-shot | " + " | ".join(n for n, _ in _TABLE_COLUMNS) + " |",
        "|---|---:|---|" + "---:|" * len(_TABLE_COLUMNS),
    ]
    rows = [*report["per_language"].items(), ("**all**", report["overall"])]
    for lang, section in rows:
        zero_shot = {True: "yes", False: "no"}.get(section.get("zero_shot"), "")
        cells = " | ".join(_cell(_get(section, *path)) for _, path in _TABLE_COLUMNS)
        lines.append(f"| {lang} | {section['examples']} | {zero_shot} | {cells} |")
    lines.append("")

    entities = report["overall"]["entities"]
    if entities and entities["per_type"]:
        languages = [lang for lang, s in report["per_language"].items() if s["entities"]]
        lines += [
            "## Entities (exact spans)",
            "",
            "| entity | support | precision | recall | F1 | "
            + " | ".join(f"F1 {lang}" for lang in languages)
            + " |",
            "|---|---:|---:|---:|---:|" + "---:|" * len(languages),
        ]
        for name, scores in entities["per_type"].items():
            per_language = " | ".join(
                _cell(_get(report["per_language"][lang], "entities", "per_type", name, "f1"))
                for lang in languages
            )
            lines.append(
                f"| {name} | {scores['support']} | {scores['precision']:.3f} | "
                f"{scores['recall']:.3f} | {scores['f1']:.3f} | {per_language} |"
            )
        lines.append("")

    sentiment = report["overall"]["sentiment"]
    if sentiment:
        labels = sentiment["confusion"]["labels"]
        lines += [
            "## Sentiment (all languages; rows gold, columns predicted)",
            "",
            "| gold \\ predicted | " + " | ".join(labels) + " | recall | precision |",
            "|---|" + "---:|" * (len(labels) + 2),
        ]
        for label, row in zip(labels, sentiment["confusion"]["matrix"]):
            scores = sentiment["per_label"][label]
            lines.append(
                f"| {label} | " + " | ".join(map(str, row))
                + f" | {scores['recall']:.3f} | {scores['precision']:.3f} |"
            )  # fmt: skip
        lines.append("")

    calibration_report = report["calibration"]
    if calibration_report:
        lines += [
            "## Intent confidence and fallback thresholds",
            "",
            f"Expected calibration error: {calibration_report['ece']:.3f} "
            f"({CALIBRATION_BINS} bins, {calibration_report['examples']} messages). A "
            "FallbackClassifier threshold t lets through the messages with confidence >= t:",
            "",
            "| threshold | answered | accuracy of answered | wrong intents caught |",
            "|---:|---:|---:|---:|",
        ]
        for row in calibration_report["thresholds"]:
            caught = "–" if row["errors_caught"] is None else f"{row['errors_caught']:.1%}"
            lines.append(
                f"| {row['threshold']:.1f} | {row['coverage']:.1%} | {_cell(row['accuracy'])} "
                f"| {caught} |"
            )
        lines.append("")

    if report["worst_confusions"]:
        lines += ["## Worst intent confusions", ""]
        for item in report["worst_confusions"]:
            languages = ", ".join(f"{lang} {n}" for lang, n in item["languages"].items())
            lines.append(
                f"- **{item['gold']} → {item['predicted']}**: {item['count']} ({languages})"
            )
            for example in item["examples"]:
                confidence = _cell(example["confidence"], 2)
                lines.append(f"  - [{example['language']}, {confidence}] {example['text']}")
        lines.append("")

    if report.get("plots"):
        lines += ["## Plots", ""]
        lines += [f"![{name}]({name})" for name in report["plots"]]
        lines.append("")
    return "\n".join(lines)


# -- plots ------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Any:
    """A figure outside pyplot's global state (no GUI backend, nothing left open)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, tight_layout=True)


def _heatmap(axes: Any, labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> None:
    """A confusion matrix, colours normalised per gold row, counts written in the cells."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(labels)))
    axes.set_yticks(range(len(labels)))
    axes.set_xticklabels(labels, rotation=90, fontsize=7)
    axes.set_yticklabels(labels, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(title, fontsize=9)
    for (row, column), count in np.ndenumerate(counts):
        if count:
            colour = "white" if normalised[row, column] > 0.5 else "black"
            axes.text(column, row, int(count), ha="center", va="center", fontsize=6, color=colour)


def _write_plots(report: dict[str, Any], directory: Path) -> list[Path]:
    written = []
    drawers = {
        "per_language": _plot_per_language,
        "intent_confusion": _plot_intent_confusion,
        "sentiment_confusion": _plot_sentiment_confusion,
        "entity_f1": _plot_entity_f1,
        "reliability": _plot_reliability,
    }
    for name, draw in drawers.items():
        figure = draw(report)
        if figure is not None:
            path = directory / PLOT_FILES[name]
            figure.savefig(path, format="png")
            written.append(path)
    return written


def _plot_per_language(report: dict[str, Any]) -> Any:
    import numpy as np

    languages = list(report["per_language"])
    series = {
        name: [_get(report["per_language"][lang], *path) for lang in languages]
        for name, path in _TABLE_COLUMNS
        if name != "intent ECE"
    }
    series = {name: values for name, values in series.items() if any(v is not None for v in values)}
    if not series or not languages:
        return None
    figure = _figure(min(16.0, max(6.0, 0.15 * len(languages) * len(series) + 2)), 4.5)
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    positions = np.arange(len(languages))
    for index, (name, values) in enumerate(series.items()):
        heights = [np.nan if v is None else v for v in values]
        axes.bar(positions + (index - (len(series) - 1) / 2) * width, heights, width, label=name)
    labels = [
        f"{lang}*" if report["per_language"][lang].get("zero_shot") else lang for lang in languages
    ]
    axes.set_xticks(positions)
    axes.set_xticklabels(labels)
    axes.set_ylim(0.0, 1.2)  # the band above 1 holds the legend
    axes.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_ylabel("score")
    zero_shot_note = " (* zero-shot)" if any(label.endswith("*") for label in labels) else ""
    axes.set_title(f"Per-language scores{zero_shot_note}", fontsize=10)
    axes.legend(fontsize=7, ncol=min(4, len(series)), loc="upper center")
    axes.grid(axis="y", alpha=0.3)
    return figure


def _plot_intent_confusion(report: dict[str, Any]) -> Any:
    confusion = report["intent_confusion"]
    if not confusion:
        return None
    size = max(5.0, 0.35 * len(confusion["labels"]) + 2)
    figure = _figure(size, size)
    title = "Intents, all languages"
    _heatmap(figure.add_subplot(), confusion["labels"], confusion["matrix"], title)
    return figure


def _plot_sentiment_confusion(report: dict[str, Any]) -> Any:
    panels = [("all", report["overall"]["sentiment"])] + [
        (lang, section["sentiment"])
        for lang, section in report["per_language"].items()
        if section["sentiment"]
    ]
    if panels[0][1] is None:
        return None
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    figure = _figure(3.0 * columns, 3.0 * rows)
    for index, (name, section) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        title = f"{name}: macro-F1 {section['macro_f1']:.2f}"
        _heatmap(axes, section["confusion"]["labels"], section["confusion"]["matrix"], title)
    return figure


def _plot_entity_f1(report: dict[str, Any]) -> Any:
    import numpy as np

    entities = report["overall"]["entities"]
    if not entities or not entities["per_type"]:
        return None
    types = list(entities["per_type"])
    languages = [lang for lang, s in report["per_language"].items() if s["entities"]]
    scores = np.array(
        [
            [
                np.nan
                if (value := _get(report["per_language"][lang], "entities", "per_type", t, "f1"))
                is None
                else value
                for lang in languages
            ]
            for t in types
        ]
    )
    figure = _figure(max(5.0, 0.6 * len(languages) + 3), max(3.0, 0.4 * len(types) + 1.5))
    axes = figure.add_subplot()
    image = axes.imshow(scores, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(languages)))
    axes.set_xticklabels(languages)
    axes.set_yticks(range(len(types)))
    axes.set_yticklabels(types, fontsize=8)
    axes.set_title("Entity F1, exact spans (blank: not in that test set)", fontsize=9)
    for (row, column), value in np.ndenumerate(scores):
        if not np.isnan(value):
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axes)
    return figure


def _plot_reliability(report: dict[str, Any]) -> Any:
    calibration_report = report["calibration"]
    if not calibration_report:
        return None
    bins = calibration_report["bins"]
    centres = [(b["lower"] + b["upper"]) / 2 for b in bins]
    width = bins[0]["upper"] - bins[0]["lower"]
    figure = _figure(6.0, 6.5)
    top = figure.add_subplot(2, 1, 1)
    top.bar(
        centres,
        [b["accuracy"] or 0.0 for b in bins],
        width * 0.9,
        edgecolor="black",
        label="accuracy in bin",
    )
    top.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    top.set_xlim(0.0, 1.0)
    top.set_ylim(0.0, 1.0)
    top.set_ylabel("intent accuracy")
    top.set_title(f"Intent reliability diagram (ECE {calibration_report['ece']:.3f})")
    top.legend(fontsize=8, loc="upper left")
    bottom = figure.add_subplot(2, 1, 2)
    bottom.bar(centres, [b["count"] for b in bins], width * 0.9, color="grey")
    bottom.set_xlim(0.0, 1.0)
    bottom.set_xlabel("intent confidence")
    bottom.set_ylabel("messages")
    return figure
