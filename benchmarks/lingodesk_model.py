"""What every NLU suite shares: building, training and timing lingodesk's multitask model
through exactly the core code the Rasa component uses, and the metrics they report."""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import REPO_ROOT

DEFAULT_ENCODER = str(REPO_ROOT / "models" / "multilingual-e5-small")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every NLU suite takes."""
    parser.add_argument(
        "--pipeline",
        choices=["lingodesk"],
        default="lingodesk",
        help="which NLU pipeline to train and evaluate",
    )
    parser.add_argument("--encoder", default=DEFAULT_ENCODER, help="HF model name or directory")
    parser.add_argument("--epochs", type=int, help="override the suite's number of epochs")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="torch threads for training"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any MultitaskTransformerNLU config key, e.g. --set learning_rate=1e-3",
    )


def model_config(args: argparse.Namespace, suite_defaults: dict[str, Any]) -> dict[str, Any]:
    """The flat component config a suite trains with: suite defaults, then command line."""
    import yaml

    config: dict[str, Any] = {
        "model_name_or_path": args.encoder,
        "seed": args.seed,
        "num_threads": args.threads,
        "progress_bar": True,
        **suite_defaults,
    }
    if args.epochs:
        config["epochs"] = args.epochs
    for item in args.set:
        key, _, text = item.partition("=")
        value = yaml.safe_load(text)
        if isinstance(value, str):  # YAML 1.1 reads "2e-4" as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        config[key] = value
    return config


def train_model(config: dict[str, Any], examples: Sequence[Any]) -> tuple[Any, float]:
    """Train MultitaskNLU on ``examples``; return it and the training wall time in seconds."""
    from nlu_components.core.nlu_model import MultitaskNLU
    from nlu_components.core.settings import from_flat_config

    model = MultitaskNLU(*from_flat_config(config))
    started = time.perf_counter()
    model.fit(examples)
    return model, time.perf_counter() - started


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
