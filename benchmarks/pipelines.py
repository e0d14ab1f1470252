"""What every NLU suite shares: building, training and timing the pipeline it measures,
lingodesk's multitask model (through exactly the core code the Rasa component uses) or stock
Rasa's default pipeline (:mod:`benchmarks.rasa_default`), and what serving it costs.

Both pipelines have the same interface (``fit``, ``predict(texts, words)``, ``save``), so a
suite's splits and metrics are written once for both. The data readers, metrics and the
result type live in :mod:`evaluation`, shared with ``lingodesk evaluate``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT
from evaluation.metrics import percentile
from evaluation.results import SuiteResult

DEFAULT_ENCODER = str(REPO_ROOT / "models" / "multilingual-e5-small")
LINGODESK = "lingodesk"
RASA_DEFAULT = "rasa-default"
PIPELINES = (LINGODESK, RASA_DEFAULT)
# Batch-1 parses timed after evaluation, and untimed ones before them (caches, thread pools).
LATENCY_MESSAGES = 200
LATENCY_WARMUP = 10


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every NLU suite takes."""
    parser.add_argument(
        "--pipeline",
        choices=PIPELINES,
        default=LINGODESK,
        help="which NLU pipeline to train and evaluate: lingodesk's, or stock Rasa's default "
        "(what `rasa init` trains: DIET on word and char n-gram counts; lingodesk-only options "
        "--encoder, --threads and --set do not apply to it)",
    )
    parser.add_argument("--encoder", default=DEFAULT_ENCODER, help="HF model name or directory")
    parser.add_argument(
        "--epochs",
        type=int,
        help="override the suite's number of epochs (rasa-default: DIET's, 100 by default)",
    )
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
    """What the suite trains with: for lingodesk the flat component config (suite defaults,
    then command line); for rasa-default Rasa's own default config, untouched but for
    ``--epochs`` (the suite defaults tune lingodesk and do not apply)."""
    import yaml

    if args.pipeline == RASA_DEFAULT:
        from benchmarks.rasa_default import config_with_epochs

        return config_with_epochs(args.epochs)
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
    """Train the pipeline ``config`` describes (a Rasa config, with its ``pipeline`` list, is
    stock Rasa; a flat component config is lingodesk's MultitaskNLU) on ``examples``; return
    the model and the training wall time in seconds."""
    if "pipeline" in config:
        from benchmarks.rasa_default import RasaDefaultNLU

        model: Any = RasaDefaultNLU(config)
    else:
        from nlu_components.core.nlu import MultitaskNLU
        from nlu_components.core.settings import from_flat_config

        model = MultitaskNLU(*from_flat_config(config))
    started = time.perf_counter()
    model.fit(examples)
    return model, time.perf_counter() - started


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def directory_mb(directory: Path) -> float:
    """Size of the files under ``directory``, in MiB."""
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) / 2**20


def serving_stats(
    model: Any,
    texts: Sequence[str],
    words: Sequence[Sequence[tuple[int, int]]] | None = None,
    messages: int = LATENCY_MESSAGES,
) -> dict[str, float]:
    """What serving the trained model costs beside what it scores: batch-1 parse latency on
    up to ``messages`` of ``texts`` (one message at a time, as a chat server sees them), and
    the size on disk of what training produced. For lingodesk that is the adapter and heads;
    the encoder it also needs is ``encoder_mb``."""
    step = max(1, len(texts) // messages)  # spread over the languages and classes
    spans = list(words[::step]) if words is not None else [None] * len(texts[::step])
    texts = list(texts[::step])[:messages]
    for text, text_words in zip(texts[:LATENCY_WARMUP], spans):
        model.predict([text], None if text_words is None else [text_words])
    timings = []
    for text, text_words in zip(texts, spans):
        started = time.perf_counter()
        model.predict([text], None if text_words is None else [text_words])
        timings.append((time.perf_counter() - started) * 1000)
    with tempfile.TemporaryDirectory() as scratch:
        model.save(Path(scratch))
        sizes = footprint(model, Path(scratch))
    return {
        "parse_p50_ms": statistics.median(timings),
        "parse_p95_ms": percentile(timings, 95),
        "parse_messages": len(timings),
        **sizes,
    }


def footprint(model: Any, saved: Path) -> dict[str, float]:
    """``model_mb``: what training produced, saved at ``saved``; ``encoder_mb`` (lingodesk
    only): the pretrained encoder that is served with it, where it is a local directory."""
    sizes = {"model_mb": directory_mb(saved)}
    encoder_settings = getattr(model, "encoder_settings", None)  # lingodesk's MultitaskNLU
    if encoder_settings and Path(encoder_settings.model_name_or_path).is_dir():
        sizes["encoder_mb"] = directory_mb(Path(encoder_settings.model_name_or_path))
    return sizes


def trained_result(
    args: argparse.Namespace,
    model: Any,
    timed: Sequence[str],
    timed_words: Sequence[Sequence[tuple[int, int]]] | None = None,
    **result: Any,
) -> dict[str, Any]:
    """An NLU suite's JSON: ``result``'s fields of :class:`~evaluation.results.SuiteResult`
    (split, training, scores, config), the run's suite, pipeline and ``--quick``, and what
    serving ``model`` costs, timed on ``timed`` (:func:`serving_stats`)."""
    serving = serving_stats(model, timed, timed_words)
    return SuiteResult(
        suite=args.suite,
        pipeline=args.pipeline,
        quick=args.quick,
        serving=serving,
        peak_memory_mb=peak_memory_mb(),
        **result,
    ).as_dict()
