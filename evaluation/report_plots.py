"""The per-language report's plots, drawn from the report dict alone (so the JSON and the
pictures agree): per-language scores, the intent and sentiment confusion matrices, entity F1
per type and language, and the intent reliability diagram."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.report_markdown import TABLE_COLUMNS, value_at

PLOT_FILES = {
    "per_language": "per_language.png",
    "intent_confusion": "intent_confusion.png",
    "sentiment_confusion": "sentiment_confusion.png",
    "entity_f1": "entity_f1.png",
    "reliability": "reliability.png",
}


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


def write_plots(report: dict[str, Any], directory: Path) -> list[Path]:
    """Draw every plot the report has data for into ``directory``; return the files."""
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
        name: [value_at(report["per_language"][lang], *path) for lang in languages]
        for name, path in TABLE_COLUMNS
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
                if (
                    value := value_at(report["per_language"][lang], "entities", "per_type", t, "f1")
                )
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
