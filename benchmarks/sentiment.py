"""Multilingual tweet sentiment (XLM-T unified set): macro-F1 per language, trained jointly.

Trains on the 8 languages' ``train_{text,labels}.txt``; evaluates on ``test_*`` files where the
data root has them (split "test"), else on ``val_*`` (split "dev").
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.pipelines import add_model_arguments, model_config, train_model, trained_result
from evaluation.metrics import label_scores, mean
from evaluation.results import number, per_language_table
from evaluation.xlmt_data import LABELS, LANGUAGES, read_split

SUITE_DEFAULTS: dict[str, Any] = {"epochs": 2, "max_length": 96}
QUICK_TRAIN_PER_LANGUAGE = 300
TABLE_COLUMNS = (number("macro-F1", "macro_f1", 10), number("accuracy", "accuracy", 10))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)


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
    return trained_result(
        args,
        model,
        [text for rows in evaluation.values() for text, _ in rows],
        split="test" if split == "test" else "dev",
        train_sentences=len(train),
        train_seconds=train_seconds,
        config=config,
        per_language=per_language,
        overall={"macro_f1": mean([s["macro_f1"] for s in per_language.values()])},
    )


def format_table(result: dict[str, Any]) -> str:
    trained = f"{result['train_sentences']} training tweets, {result['train_seconds']:.0f} s"
    return per_language_table(result, TABLE_COLUMNS, trained)
