"""Parse latency of one message through the whole NLU path, batch 1: language ID, word
tokenizer, encoder and heads, per serving backend and thread count, with each backend's
intent accuracy (so a faster path is only taken when it is as accurate).

Uses a saved model (``--model DIR``, as written by ``MultitaskNLU.save``) or first trains one
on xSID English; times sentences of all xSID main languages. With ``--pipeline rasa-default``
it trains stock Rasa's default pipeline on the same English sentences and times the same
messages through Rasa's ``Agent`` (TensorFlow's own threading; no serving backends to choose).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT, XSID_MAIN_LANGUAGES, read_conll, xsid_files
from benchmarks.lingodesk_model import (
    RASA_DEFAULT,
    add_model_arguments,
    footprint,
    model_config,
    peak_memory_mb,
    percentile,
    serving_stats,
    train_model,
)
from benchmarks.xsid import to_example

BACKENDS = ("torch", "onnx", "onnx-int8")
DEFAULT_BACKEND = "onnx-int8"
SUITE_DEFAULTS: dict[str, Any] = {"epochs": 10}
LID_MODEL = REPO_ROOT / "models" / "lid.176.ftz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--model", type=Path, help="a saved lingodesk model directory")
    parser.add_argument("--messages", type=int, default=600, help="messages timed per setting")
    parser.add_argument("--max-threads", type=int, default=2, help="time 1..N serving threads")


def _encoder_gflop(model: Any, texts: list[str]) -> float:
    """Mean forward GFLOP per message: 2 x (multiply-add) x non-embedding encoder weights x
    tokens, plus attention's two T x T x hidden products per layer."""
    encoder = model.predictor.model.encoder
    config = encoder.config
    weights = sum(p.numel() for name, p in encoder.named_parameters() if "embeddings" not in name)
    tokenizer = model.predictor.encoder.tokenizer
    prefix = model.predictor.encoder.text_prefix
    flops = []
    for text in texts:
        tokens = len(tokenizer(prefix + text)["input_ids"])
        attention = 2 * 2 * config.num_hidden_layers * tokens * tokens * config.hidden_size
        flops.append(2 * weights * tokens + attention)
    return statistics.fmean(flops) / 1e9


def timed_messages(args: argparse.Namespace) -> tuple[str, list[str], list[str]]:
    """The split, and the texts and gold intents of the messages timed: spread evenly over
    the xSID main languages."""
    split, files = xsid_files(args.data)
    sentences = [
        s for lang in XSID_MAIN_LANGUAGES if lang in files for s in read_conll(files[lang])
    ]
    sentences = sentences[:: max(1, len(sentences) // args.messages)][: args.messages]
    if args.quick:
        sentences = sentences[:150]
    return split, [s.text for s in sentences], [s.intent for s in sentences]


def _english_training_set(args: argparse.Namespace) -> list[Any]:
    return [to_example(s) for s in read_conll(args.data / "xsid" / "en.valid.conll")]


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.pipeline == RASA_DEFAULT:
        return _run_rasa_default(args)

    split, texts, gold = timed_messages(args)

    config = None
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model
        train_seconds = None
        if model_dir is None:
            defaults = dict(SUITE_DEFAULTS, epochs=3) if args.quick else dict(SUITE_DEFAULTS)
            config = model_config(args, defaults)
            trained, train_seconds = train_model(config, _english_training_set(args))
            model_dir = Path(scratch) / "model"
            trained.save(model_dir)
            del trained

        # Each setting is timed in a fresh interpreter, as a server runs one backend: in one
        # process, what earlier settings left behind slowed the later ones (the shipped
        # assistant's int8 p50: 6.45 ms after four other settings, 5.17 ms on its own).
        settings = []
        spawn = multiprocessing.get_context("spawn")
        for backend in BACKENDS:
            for threads in range(1, args.max_threads + 1):
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                    setting, gflop, sizes = child.submit(
                        _time_setting, model_dir, backend, threads, texts, gold
                    ).result()
                settings.append(setting)

    reference = next(s for s in settings if s["backend"] == "torch" and s["threads"] == 1)
    for setting in settings:
        setting["accuracy_delta_points"] = 100 * (
            setting["intent_accuracy"] - reference["intent_accuracy"]
        )
        setting["gflop_per_s_at_p50"] = gflop / (setting["p50_ms"] / 1000)
    default = next(s for s in settings if s["backend"] == DEFAULT_BACKEND and s["threads"] == 1)
    overall = {
        "p50_ms": default["p50_ms"],
        "p95_ms": default["p95_ms"],
        "backend": default["backend"],
        "threads": 1,
        "accuracy_delta_points": default["accuracy_delta_points"],
        "intent_accuracy": default["intent_accuracy"],
    }
    return _result(
        args, split, texts, overall, settings, train_seconds, config,
        **sizes, encoder_gflop_per_message=gflop,
    )  # fmt: skip


def _time_setting(
    model_dir: Path, backend: str, threads: int, texts: list[str], gold: list[str]
) -> tuple[dict[str, Any], float, dict[str, float]]:
    """Load the saved model on ``backend`` with ``threads`` and time every message through
    language ID, word tokenizer and model; with the encoder's GFLOP per message and the
    model's sizes."""
    import torch

    from nlu_components.core.language_id import LanguageIdentifier
    from nlu_components.core.nlu_model import MultitaskNLU
    from nlu_components.core.settings import ServingSettings
    from nlu_components.core.tokenization import tokenize

    torch.set_num_threads(threads)
    identifier = LanguageIdentifier(LID_MODEL)
    started = time.perf_counter()
    model = MultitaskNLU.load(model_dir, ServingSettings(backend=backend, num_threads=threads))
    model.predictor  # noqa: B018 - export/quantize (cached after the first time)
    load_seconds = time.perf_counter() - started

    def parse(text: str) -> str | None:
        language = identifier.identify(text)
        words = [(s.start, s.end) for s in tokenize(text, language.code)]
        return model.predict([text], [words])[0].intent

    # Warm-up: allocator, thread pools, caches, and the word tokenizer of every language (each
    # is built on first use; the texts come in blocks of one language).
    for text in texts[:: max(1, len(texts) // 60)]:
        parse(text)
    timings, predicted = [], []
    for text in texts:
        started = time.perf_counter()
        predicted.append(parse(text))
        timings.append((time.perf_counter() - started) * 1000)
    setting = {
        "backend": model.predictor.backend,
        "threads": threads,
        "p50_ms": statistics.median(timings),
        "p95_ms": percentile(timings, 95),
        "mean_ms": statistics.fmean(timings),
        "intent_accuracy": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
        "load_seconds": load_seconds,
        # This process only: loading, export on first use, and serving this backend.
        "peak_memory_mb": peak_memory_mb(),
    }
    return setting, _encoder_gflop(model, texts[:200]), footprint(model, Path(model_dir))


def _result(
    args: argparse.Namespace,
    split: str,
    texts: list[str],
    overall: dict[str, Any],
    settings: list[dict[str, Any]],
    train_seconds: float,
    config: dict[str, Any],
    **sizes: float,
) -> dict[str, Any]:
    """The suite's JSON, the same for both pipelines."""
    return {
        "suite": "latency",
        "pipeline": args.pipeline,
        "split": split,
        "quick": args.quick,
        "messages": len(texts),
        "overall": overall,
        "per_language": {},
        "settings": settings,
        **sizes,
        "peak_memory_mb": peak_memory_mb(),
        "train_seconds": train_seconds,
        "config": config,
    }


def _run_rasa_default(args: argparse.Namespace) -> dict[str, Any]:
    """Stock Rasa trained on the same English sentences, every timed message parsed through
    its Agent one at a time."""
    if args.model:
        raise SystemExit("--model is a saved lingodesk model; rasa-default trains its own")
    split, texts, gold = timed_messages(args)
    config = model_config(args, SUITE_DEFAULTS)
    model, train_seconds = train_model(config, _english_training_set(args))
    predicted = [p.intent for p in model.predict(texts)]
    stats = serving_stats(model, texts, messages=len(texts))
    overall = {
        "p50_ms": stats["parse_p50_ms"],
        "p95_ms": stats["parse_p95_ms"],
        "backend": RASA_DEFAULT,
        "intent_accuracy": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
    }
    return _result(
        args, split, texts, overall, [], train_seconds, config, model_mb=stats["model_mb"]
    )


def format_table(result: dict[str, Any]) -> str:
    if result["pipeline"] == RASA_DEFAULT:
        overall = result["overall"]
        return (
            f"latency ({result['messages']} messages, batch 1, rasa-default through Agent)\n"
            f"p50 {overall['p50_ms']:.2f} ms   p95 {overall['p95_ms']:.2f} ms   "
            f"intent acc {overall['intent_accuracy']:.3f}   model {result['model_mb']:.1f} MB"
        )
    lines = [
        f"latency ({result['messages']} messages, batch 1, "
        f"{result['encoder_gflop_per_message']:.2f} GFLOP/message)",
        f"{'backend':<11}{'threads':>8}{'p50 ms':>9}{'p95 ms':>9}{'GFLOP/s':>9}"
        f"{'intent acc':>12}{'delta pt':>10}{'load s':>8}{'peak MB':>9}",
    ]
    for s in result["settings"]:
        lines.append(
            f"{s['backend']:<11}{s['threads']:>8}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}"
            f"{s['gflop_per_s_at_p50']:>9.1f}{s['intent_accuracy']:>12.3f}"
            f"{s['accuracy_delta_points']:>10.2f}{s['load_seconds']:>8.1f}"
            f"{s['peak_memory_mb']:>9.0f}"
        )
    return "\n".join(lines)
