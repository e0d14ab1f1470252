"""Language ID on xSID: full sentences and short chat-like messages, detectors side by side.

Short messages are the first two whitespace-separated words of each sentence (the first four
characters, spaces left out, for Chinese and Japanese), which is where language ID fails in
chat. Systems, each timed per message:

- ``fasttext``: raw ``lid.176.ftz`` top-1, label as is;
- ``identifier``: lingodesk's language ID itself (:meth:`LanguageIdentifier.predict`): text
  only, no context, no restriction to a bot's languages. ``overall`` reports this one;
- ``component``: the full decision with its fallbacks, each message sent as the second turn of
  a conversation whose first turn is another sentence of the same file (seeded draw), its
  confident language carried as ``session_language`` the way lingodesk's channels do;
- ``langdetect`` and ``lingua`` where installed (``pip install .[bench]``).

``overall.accuracy`` and ``overall.short_accuracy`` are means of per-language accuracies over
the 13 main xSID languages; dialect files and Norwegian are reported beside them, dialects
scored against their parent language.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT
from evaluation.records import short_message
from evaluation.results import Column, format_rows, render_table
from evaluation.xsid_data import XSID_MAIN_LANGUAGES, read_conll, xsid_files, xsid_language
from nlu_components.core.language_id import LanguageIdentifier, normalize_language_tag

QUICK_SENTENCES = 60

Detector = Callable[[str], "str | None"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, default=REPO_ROOT / "models" / "lid.176.ftz",
        help="fastText lid.176.ftz (built by python -m nlu_components.assets)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    split, files = xsid_files(args.data)
    rng = random.Random(args.seed)
    identifier = LanguageIdentifier(args.model)
    detectors = {
        "fasttext": _fasttext_top1(args.model),
        "identifier": lambda text: identifier.predict(text).code,
        **_optional_detectors(args.seed),
    }
    per_language: dict[str, dict[str, Any]] = {}
    timings: dict[str, dict[str, list[float]]] = {}
    for name, path in files.items():
        code = xsid_language(name)
        texts = [sentence.text for sentence in read_conll(path)]
        if args.quick:
            texts = rng.sample(texts, min(QUICK_SENTENCES, len(texts)))
        inputs = {"full": texts, "short": [short_message(t, code) for t in texts]}
        sessions = [
            _session_language(identifier, rng.choice(texts[:i] + texts[i + 1 :]))
            for i in range(len(texts))
        ]
        systems: dict[str, dict[str, float]] = {}
        for kind, messages in inputs.items():
            with_component = {**detectors, "component": _second_turn(identifier, sessions)}
            for system, detect in with_component.items():
                predictions, seconds = _timed(detect, messages)
                accuracy = sum(p == code for p in predictions) / len(messages)
                key = "accuracy" if kind == "full" else "short_accuracy"
                systems.setdefault(system, {})[key] = round(accuracy, 4)
                timings.setdefault(system, {}).setdefault(kind, []).append(seconds / len(messages))
        per_language[name] = {
            "code": code, "main": name in XSID_MAIN_LANGUAGES, "sentences": len(texts),
            "systems": systems,
        }  # fmt: skip
    summary = _summarize(per_language, timings)
    return {
        "suite": "langid",
        "split": split,
        "data": str(args.data),
        "quick": args.quick,
        "seed": args.seed,
        "overall": {
            "system": "identifier",
            "accuracy": summary["identifier"]["accuracy"],
            "short_accuracy": summary["identifier"]["short_accuracy"],
        },
        "systems": summary,
        "per_language": per_language,
    }


def _session_language(identifier: LanguageIdentifier, first_turn: str) -> str | None:
    """What lingodesk's channels carry as ``session_language`` after this first turn."""
    result = identifier.identify(first_turn)
    return result.code if result.source == "model" else None


def _second_turn(identifier: LanguageIdentifier, sessions: list[str | None]) -> Detector:
    """The component on each message in order, with that conversation's session language."""
    session_of_next = iter(sessions)
    return lambda text: identifier.identify(text, session=next(session_of_next)).code


def _timed(detect: Detector, messages: list[str]) -> tuple[list[str | None], float]:
    start = time.perf_counter()
    predictions = [detect(message) for message in messages]
    return predictions, time.perf_counter() - start


def _summarize(
    per_language: dict[str, dict[str, Any]], timings: dict[str, dict[str, list[float]]]
) -> dict[str, dict[str, float]]:
    main = [row["systems"] for name, row in per_language.items() if row["main"]]
    summary = {}
    for system, kinds in timings.items():
        summary[system] = {
            key: round(sum(row[system][key] for row in main) / len(main), 4)
            for key in ("accuracy", "short_accuracy")
        }
        for kind, label in (("full", "us_per_message"), ("short", "short_us_per_message")):
            summary[system][label] = round(1e6 * sum(kinds[kind]) / len(kinds[kind]), 1)
    return summary


def _fasttext_top1(model_path: Path) -> Detector:
    import fasttext

    model = fasttext.load_model(str(model_path))

    def detect(text: str) -> str:
        labels, _ = model.predict(" ".join(text.split()), k=1)
        return labels[0].removeprefix("__label__")

    return detect


def _optional_detectors(seed: int) -> dict[str, Detector]:
    """langdetect and lingua when installed, each with all of its languages, their codes
    read as the identifier reads a client's tag ("zh-cn": zh, Bokmål "nb": no)."""
    detectors: dict[str, Detector] = {}
    try:
        from langdetect import DetectorFactory, LangDetectException, detect
    except ImportError:
        pass
    else:
        DetectorFactory.seed = seed

        def langdetect_code(text: str) -> str | None:
            try:
                return normalize_language_tag(detect(text))
            except LangDetectException:
                return None

        detectors["langdetect"] = langdetect_code
    try:
        from lingua import LanguageDetectorBuilder
    except ImportError:
        pass
    else:
        lingua = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
        built = lingua.build()

        def lingua_code(text: str) -> str | None:
            language = built.detect_language_of(text)
            return normalize_language_tag(language.iso_code_639_1.name) if language else None

        detectors["lingua"] = lingua_code
    return detectors


def _system_columns(systems: list[str], full: str, short: str, spec: str) -> list[Column]:
    """A column per system, its cells ``row[system][full] / row[system][short]``."""
    return [
        Column(
            system,
            22,
            lambda row, s=system: f"{row[s][full]:>13{spec}} / {row[s][short]:{spec}}",
        )
        for system in systems
    ]


def format_table(result: dict[str, Any]) -> str:
    systems = list(result["systems"])
    title = (
        f"langid on xSID ({result['split']} split{', quick' if result['quick'] else ''}):"
        " accuracy full / short"
    )
    languages = sorted(result["per_language"].items(), key=lambda item: not item[1]["main"])
    summary = result["systems"]
    rows = [
        *((name if row["main"] else f"({name})", row["systems"]) for name, row in languages),
        ("mean 13", summary),
    ]
    accuracy = _system_columns(systems, "accuracy", "short_accuracy", ".3f")
    timing = _system_columns(systems, "us_per_message", "short_us_per_message", ".0f")
    overall = result["overall"]
    footer = [
        *format_rows(timing, [("us/msg", summary)], label_width=10),
        f"overall ({overall['system']}): accuracy {overall['accuracy']:.3f}, "
        f"short_accuracy {overall['short_accuracy']:.3f}",
    ]
    return render_table(title, accuracy, rows, footer, label="language", label_width=10)
