"""Banking77 intent accuracy and macro-F1 (77 fine-grained online-banking intents, English).

Trains on ``banking77/train.csv``; evaluates on ``banking77/test.csv`` where the data root has
it (split "test"), else on a seeded, class-stratified 10 % of train.csv held out from training
(split "dev").
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.pipelines import add_model_arguments, model_config, train_model, trained_result
from evaluation.banking77_data import read_csv
from evaluation.metrics import intent_scores
from evaluation.results import render_table, serving_line, suite_title

SUITE_DEFAULTS: dict[str, Any] = {"epochs": 5, "max_length": 64}
QUICK_TRAIN_PER_CLASS = 20
DEV_FRACTION = 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)


def splits(data_root: Path, seed: int) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """(split name, training rows, evaluation rows)."""
    folder = data_root / "banking77"
    train = read_csv(folder / "train.csv")
    if (folder / "test.csv").is_file():
        return "test", train, read_csv(folder / "test.csv")
    by_class: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in train:
        by_class[row[1]].append(row)
    kept, held_out = [], []
    for category in sorted(by_class):
        rows = by_class[category]
        random.Random(f"{seed}-{category}").shuffle(rows)
        cut = max(1, round(len(rows) * DEV_FRACTION))
        held_out += rows[:cut]
        kept += rows[cut:]
    return "dev", kept, held_out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from nlu_components.core.examples import Example

    split, train, evaluation = splits(args.data, args.seed)
    defaults = dict(SUITE_DEFAULTS)
    if args.quick:
        per_class: dict[str, int] = defaultdict(int)
        subsample = []
        for row in train:
            if per_class[row[1]] < QUICK_TRAIN_PER_CLASS:
                per_class[row[1]] += 1
                subsample.append(row)
        train = subsample
    config = model_config(args, defaults)
    model, train_seconds = train_model(
        config, [Example(text, intent=label, entities=None) for text, label in train]
    )
    predictions = model.predict([text for text, _ in evaluation])
    scores = intent_scores([label for _, label in evaluation], [p.intent for p in predictions])
    return trained_result(
        args,
        model,
        [text for text, _ in evaluation],
        split=split,
        train_sentences=len(train),
        counts={"eval_sentences": len(evaluation)},
        overall=scores,
        per_language={"en": scores},
        train_seconds=train_seconds,
        config=config,
    )


def format_table(result: dict[str, Any]) -> str:
    trained = f"{result['train_sentences']} training sentences, {result['train_seconds']:.0f} s"
    overall = result["overall"]
    scores = f"accuracy {overall['accuracy']:.4f}   macro-F1 {overall['macro_f1']:.4f}"
    return render_table(suite_title(result, trained), footer=[scores, serving_line(result)])
