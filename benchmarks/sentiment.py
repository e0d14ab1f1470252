"""Multilingual tweet sentiment (XLM-T unified set): macro-F1 per language, trained jointly.

Trains on the 8 languages' ``train_{text,labels}.txt``; evaluates on ``test_*`` files where the
data root has them (split "test"), else on ``val_*`` (split "dev").
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.lingodesk_model import (
    add_model_arguments,
    mean,
    model_config,
    peak_memory_mb,
    serving_line,
    serving_stats,
    train_model,
)
from bot.evaluation import label_scores

LANGUAGES = {
    "arabic": "ar",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hindi": "hi",
    "italian": "it",
    "portuguese": "pt",
    "spanish": "es",
}
LABELS = ("negative", "neutral", "positive")  # 0, 1, 2 in the files
SUITE_DEFAULTS: dict[str, Any] = {"epochs": 2, "max_length": 96}
QUICK_TRAIN_PER_LANGUAGE = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)


def read_split(folder: Path, split: str) -> list[tuple[str, str]]:
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    if len(texts) != len(labels):
        raise ValueError(f"{folder}: {len(texts)} texts but {len(labels)} labels in {split}")
    return [(text, LABELS[int(label)]) for text, label in zip(texts, labels)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from nlu_components.core.examples import Example

    root = args.data / "xlmt_sentiment"
    split = (
        "test" if all((root / name / "test_text.txt").is_file() for name in LANGUAGES) else "val"
    )
    train, evaluation = [], {}
    for name, code in LANGUAGES.items():
        rows = read_split(root / name, "train")
        train += rows[:QUICK_TRAIN_PER_LANGUAGE] if args.quick else rows
        evaluation[code] = read_split(root / name, split)
    config = model_config(args, dict(SUITE_DEFAULTS))
    model, train_seconds = train_model(
        config, [Example(text, sentiment=label, entities=None) for text, label in train]
    )
    per_language = {}
    for code, rows in evaluation.items():
        predicted = [p.sentiment for p in model.predict([text for text, _ in rows])]
        scores = label_scores([label for _, label in rows], predicted, LABELS)
        per_language[code] = {"macro_f1": scores["macro_f1"], "accuracy": scores["accuracy"]}
    return {
        "suite": "sentiment",
        "pipeline": args.pipeline,
        "split": "test" if split == "test" else "dev",
        "quick": args.quick,
        "train_sentences": len(train),
        "overall": {"macro_f1": mean([s["macro_f1"] for s in per_language.values()])},
        "per_language": per_language,
        "train_seconds": train_seconds,
        **serving_stats(model, [text for rows in evaluation.values() for text, _ in rows]),
        "peak_memory_mb": peak_memory_mb(),
        "config": config,
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"sentiment ({result['pipeline']}, split={result['split']}, "
        f"{result['train_sentences']} training tweets, {result['train_seconds']:.0f} s)",
        f"{'lang':<6}{'macro-F1':>10}{'accuracy':>10}",
    ]
    for lang, scores in result["per_language"].items():
        lines.append(f"{lang:<6}{scores['macro_f1']:>10.3f}{scores['accuracy']:>10.3f}")
    lines.append(f"{'mean':<6}{result['overall']['macro_f1']:>10.3f}")
    lines.append(serving_line(result))
    return "\n".join(lines)
