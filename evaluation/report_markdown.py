"""The per-language report (:func:`evaluation.report.build_report`) as Markdown, for people:
what to look at first, then the detail. One function per section; each gives its lines, or
none where the report has nothing for it (no entities in the test data, no confidences)."""

from __future__ import annotations

from typing import Any

from evaluation.metrics import CALIBRATION_BINS

# The per-language table's columns (the per-language plot draws them too): name, where in a
# report section the value is.
TABLE_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("intent acc", ("intent", "accuracy")),
    ("intent macro-F1", ("intent", "macro_f1")),
    ("intent ECE", ("intent", "ece")),
    ("entity F1", ("entities", "micro", "f1")),
    ("sentiment macro-F1", ("sentiment", "macro_f1")),
    ("negative recall", ("sentiment", "per_label", "negative", "recall")),
    ("upset AUROC", ("anger", "upset", "auroc")),
    ("angry AUROC", ("anger", "angry", "auroc")),
    ("angry recall", ("anger", "angry", "recall")),
    ("angry recall uncalibrated", ("anger_uncalibrated", "angry", "recall")),
    ("language ID", ("language_id", "accuracy")),
    ("short-message language ID", ("language_id", "short_accuracy")),
)


def value_at(section: dict[str, Any], *keys: str) -> Any:
    """``section[k1][k2]...``, None where any level is missing (a task the model or the test
    data does not have)."""
    value: Any = section
    for key in keys:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value


def _cell(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    """The report for people: what to look at first, then the detail."""
    sections = (
        _header,
        _per_language,
        _entities,
        _sentiment,
        _calibration,
        _worst_confusions,
        _plots,
    )
    return "\n".join(line for section in sections for line in section(report))


def _header(report: dict[str, Any]) -> list[str]:
    meta = report.get("meta", {})
    lines = ["# NLU evaluation report", ""]
    for key in ("model", "data", "created"):
        if meta.get(key):
            value = meta[key] if isinstance(meta[key], str) else ", ".join(map(str, meta[key]))
            lines.append(f"- {key}: `{value}`")
    return [*lines, f"- examples: {report['examples']}", ""]


def _per_language(report: dict[str, Any]) -> list[str]:
    lines = [
        "## Per language",
        "",
        "Zero-shot languages have no training data: they work only through cross-lingual "
        "transfer. `–`: the model or the test data has no such task.",
        "",
        "| language | examples | zero-shot | " + " | ".join(n for n, _ in TABLE_COLUMNS) + " |",
        "|---|---:|---|" + "---:|" * len(TABLE_COLUMNS),
    ]
    rows = [*report["per_language"].items(), ("**all**", report["overall"])]
    for lang, section in rows:
        zero_shot = {True: "yes", False: "no"}.get(section.get("zero_shot"), "")
        cells = " | ".join(_cell(value_at(section, *path)) for _, path in TABLE_COLUMNS)
        lines.append(f"| {lang} | {section['examples']} | {zero_shot} | {cells} |")
    return [*lines, ""]


def _entities(report: dict[str, Any]) -> list[str]:
    entities = report["overall"]["entities"]
    if not (entities and entities["per_type"]):
        return []
    languages = [lang for lang, s in report["per_language"].items() if s["entities"]]
    lines = [
        "## Entities (exact spans)",
        "",
        "| entity | support | precision | recall | F1 | "
        + " | ".join(f"F1 {lang}" for lang in languages)
        + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(languages),
    ]
    for name, scores in entities["per_type"].items():
        per_language = " | ".join(
            _cell(value_at(report["per_language"][lang], "entities", "per_type", name, "f1"))
            for lang in languages
        )
        lines.append(
            f"| {name} | {scores['support']} | {scores['precision']:.3f} | "
            f"{scores['recall']:.3f} | {scores['f1']:.3f} | {per_language} |"
        )
    return [*lines, ""]


def _sentiment(report: dict[str, Any]) -> list[str]:
    sentiment = report["overall"]["sentiment"]
    if not sentiment:
        return []
    labels = sentiment["confusion"]["labels"]
    lines = [
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
    return [*lines, ""]


def _calibration(report: dict[str, Any]) -> list[str]:
    calibration_report = report["calibration"]
    if not calibration_report:
        return []
    lines = [
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
    return [*lines, ""]


def _worst_confusions(report: dict[str, Any]) -> list[str]:
    if not report["worst_confusions"]:
        return []
    lines = ["## Worst intent confusions", ""]
    for item in report["worst_confusions"]:
        languages = ", ".join(f"{lang} {n}" for lang, n in item["languages"].items())
        lines.append(f"- **{item['gold']} → {item['predicted']}**: {item['count']} ({languages})")
        for example in item["examples"]:
            confidence = _cell(example["confidence"], 2)
            lines.append(f"  - [{example['language']}, {confidence}] {example['text']}")
    return [*lines, ""]


def _plots(report: dict[str, Any]) -> list[str]:
    if not report.get("plots"):
        return []
    return ["## Plots", "", *(f"![{name}]({name})" for name in report["plots"]), ""]
