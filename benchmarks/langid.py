"""Language ID on xSID and XLM-T tweets: full and short messages, detectors side by side.

Short messages are the first two whitespace-separated words of each sentence (the first four
characters, spaces left out, for Chinese and Japanese), which is where language ID fails in
chat. Systems, each timed per message:

- ``fasttext``: raw ``lid.176.ftz`` top-1, label as is;
- ``identifier``: lingodesk's language ID itself (:meth:`LanguageIdentifier.predict`): text
  only, no context, no restriction to a bot's languages. ``overall`` reports this one;
- ``component``: the desk's full decision with its fallbacks, each message the second turn of
  a conversation whose first turn is another sentence of the same file (seeded draw), its
  confident language carried as ``session_language`` the way lingodesk's channels do;
- ``desk``: the identifier as the shipped assistant runs it: config.yml's
  ``supported_languages`` and ``expected_languages`` with their ``served_prior``, text only;
- ``langdetect`` and ``lingua`` where installed (``pip install .[bench]``).

The tweets (XLM-T's val split, :data:`TWEET_SPLIT`; ar, de, en, es, fr, it, pt; its Hindi is
romanised and code-mixed with English, so no language is right for it) stand for first
messages in the languages xSID lacks, Spanish and Portuguese above all: handles, URLs and
hashtags taken out, short = the first two words.

``--tune`` chooses ``served_prior`` on the train tweets (:data:`TUNING_SPLIT`), never on what
is reported. Each language is scored twice at each grid value: on the shipped desk, and on
that desk without it (its customers then write in a language nobody expects, which the prior
can only hurt). The objective weighs the two means :data:`SERVED_SHARE` to the rest, the
traffic of a desk that serves its customers' languages; ties go to the smaller prior.

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

import regex
import yaml

from benchmarks.common import REPO_ROOT
from evaluation.records import short_message
from evaluation.results import Column, format_rows, number, render_table
from evaluation.xlmt_data import LANGUAGES as TWEET_LANGUAGES
from evaluation.xlmt_data import read_split
from evaluation.xsid_data import XSID_MAIN_LANGUAGES, read_conll, xsid_files, xsid_language
from nlu_components.core.language_id import (
    SERVED_PRIOR,
    LanguageIdentifier,
    normalize_language_tag,
)

QUICK_SENTENCES = 60
TWEET_SPLIT = "val"
TUNING_SPLIT = "train"
PRIOR_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
# Share of a desk's customers who write in a language it serves or expects.
SERVED_SHARE = 0.9
# XLM-T folders left out: the Hindi tweets are romanised Hinglish, often plain English.
UNLABELLED_TWEET_LANGUAGES = ("hindi",)
DETECTOR_NAME = "nlu_components.language_detector.LanguageDetector"
# What a chat message would not hold: @handles, links, hashtags, the retweet marker.
_TWEET_NOISE = regex.compile(r"@\w+|https?://\S+|#\w+|\bRT\b")

Detector = Callable[[str], "str | None"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, default=REPO_ROOT / "models" / "lid.176.ftz",
        help="fastText lid.176.ftz (built by python -m nlu_components.assets)",
    )  # fmt: skip
    parser.add_argument(
        "--config", type=Path, default=REPO_ROOT / "config.yml",
        help="the assistant whose LanguageDetector settings the desk system uses",
    )  # fmt: skip
    parser.add_argument(
        "--tune", action="store_true",
        help=f"also choose served_prior on the {TUNING_SPLIT} tweets (grid {PRIOR_GRID})",
    )  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    split, files = xsid_files(args.data)
    rng = random.Random(args.seed)
    identifier = LanguageIdentifier(args.model)
    desk_settings = shipped_detector_settings(args.config)
    desk = LanguageIdentifier(args.model, **desk_settings)
    detectors = {
        "fasttext": _fasttext_top1(args.model),
        "identifier": _predictor(identifier),
        "desk": _predictor(desk),
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
            with_component = {**detectors, "component": _second_turn(desk, sessions)}
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
    tweet_detectors = {name: detectors[name] for name in ("fasttext", "identifier", "desk")}
    tweets = _tweet_accuracies(args.data, TWEET_SPLIT, tweet_detectors, args.quick, rng)
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
        "desk": desk_settings,
        "tweets": {"split": TWEET_SPLIT, "per_language": tweets, "mean": _mean_of(tweets)},
        **({"tuning": tune_served_prior(args, desk_settings)} if args.tune else {}),
    }


def shipped_detector_settings(config: Path) -> dict[str, Any]:
    """The LanguageDetector's desk settings in ``config`` (its defaults where it leaves them
    out)."""
    pipeline = yaml.safe_load(config.read_text(encoding="utf-8")).get("pipeline") or []
    step = next((s for s in pipeline if s.get("name") == DETECTOR_NAME), None)
    if step is None:
        raise SystemExit(f"{config} has no {DETECTOR_NAME} in its pipeline")
    return {
        "supported_languages": step.get("supported_languages", []),
        "expected_languages": step.get("expected_languages", []),
        "served_prior": step.get("served_prior", SERVED_PRIOR),
    }


def tweet_messages(data_root: Path, split: str) -> dict[str, list[str]]:
    """Each XLM-T language's tweets of ``split`` as chat messages (:data:`_TWEET_NOISE` out),
    those left with at least two words, by language code."""
    messages = {}
    for folder, code in TWEET_LANGUAGES.items():
        if folder in UNLABELLED_TWEET_LANGUAGES:
            continue
        rows = read_split(data_root / "xlmt_sentiment" / folder, split)
        cleaned = (" ".join(_TWEET_NOISE.sub(" ", text).split()) for text, _ in rows)
        messages[code] = [text for text in cleaned if len(text.split()) >= 2]
    return messages


def _tweet_accuracies(
    data_root: Path, split: str, detectors: dict[str, Detector], quick: bool, rng: random.Random
) -> dict[str, dict[str, dict[str, float]]]:
    """Per language and system: accuracy on whole tweets and on their first two words."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for code, texts in tweet_messages(data_root, split).items():
        if quick:
            texts = rng.sample(texts, min(QUICK_SENTENCES, len(texts)))
        shorts = [short_message(text, code) for text in texts]
        table[code] = {
            system: {"accuracy": _accuracy(detect, texts, code),
                     "short_accuracy": _accuracy(detect, shorts, code)}
            for system, detect in detectors.items()
        }  # fmt: skip
    return table


def _accuracy(detect: Detector, messages: list[str], code: str) -> float:
    return round(sum(detect(message) == code for message in messages) / len(messages), 4)


def _mean_of(per_language: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    systems = next(iter(per_language.values()))
    rows = per_language.values()
    return {
        system: {
            key: round(sum(row[system][key] for row in rows) / len(rows), 4)
            for key in ("accuracy", "short_accuracy")
        }
        for system in systems
    }


def tune_served_prior(args: argparse.Namespace, desk_settings: dict[str, Any]) -> dict[str, Any]:
    """Two-word accuracy on the tuning tweets per ``served_prior`` in :data:`PRIOR_GRID`, each
    language on the desk and on the desk without it, and the chosen value."""
    shorts = {
        code: [short_message(text, code) for text in texts]
        for code, texts in tweet_messages(args.data, TUNING_SPLIT).items()
    }
    desk_languages = [*desk_settings["supported_languages"], *desk_settings["expected_languages"]]
    grid = []
    for prior in PRIOR_GRID:
        served = _predictor(LanguageIdentifier(args.model, desk_languages, served_prior=prior))
        row: dict[str, Any] = {"served_prior": prior, "served": {}, "unserved": {}}
        for code, texts in shorts.items():
            without = [language for language in desk_languages if language != code]
            unserved = _predictor(LanguageIdentifier(args.model, without, served_prior=prior))
            row["served"][code] = _accuracy(served, texts, code)
            row["unserved"][code] = _accuracy(unserved, texts, code)
        for kind in ("served", "unserved"):
            row[f"{kind}_mean"] = round(sum(row[kind].values()) / len(row[kind]), 4)
        row["objective"] = round(
            SERVED_SHARE * row["served_mean"] + (1 - SERVED_SHARE) * row["unserved_mean"], 4
        )
        grid.append(row)
    best = max(grid, key=lambda row: (row["objective"], -row["served_prior"]))
    return {
        "split": TUNING_SPLIT, "served_share": SERVED_SHARE, "grid": grid,
        "chosen": best["served_prior"],
    }  # fmt: skip


def _session_language(identifier: LanguageIdentifier, first_turn: str) -> str | None:
    """What lingodesk's channels carry as ``session_language`` after this first turn."""
    result = identifier.identify(first_turn)
    return result.code if result.source == "model" else None


def _second_turn(identifier: LanguageIdentifier, sessions: list[str | None]) -> Detector:
    """The component on each message in order, with that conversation's session language."""
    session_of_next = iter(sessions)
    return lambda text: identifier.identify(text, session=next(session_of_next)).code


def _predictor(identifier: LanguageIdentifier) -> Detector:
    """The identifier's text-only guess, no fallbacks."""
    return lambda text: identifier.predict(text).code


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


def _served_unserved_column(code: str) -> Column:
    return Column(code, 14, lambda row: f"{row['served'][code]:>8.3f}/{row['unserved'][code]:.3f}")


def _objective_line(tuning: dict[str, Any]) -> str:
    share = tuning["served_share"]
    return (
        f"objective: {share} x served + {1 - share:.1f} x unserved;"
        f" chosen: served_prior {tuning['chosen']}"
    )


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
    tables = [render_table(title, accuracy, rows, footer, label="language", label_width=10)]
    tweets = result["tweets"]
    tweet_systems = list(tweets["mean"])
    tables.append(
        render_table(
            f"langid on XLM-T tweets ({tweets['split']} split): accuracy full / first two words",
            _system_columns(tweet_systems, "accuracy", "short_accuracy", ".3f"),
            [*tweets["per_language"].items(), ("mean", tweets["mean"])],
            [f"desk: {result['desk']}"],
            label="language",
            label_width=10,
        )
    )
    if "tuning" in result:
        tuning = result["tuning"]
        columns = [_served_unserved_column(code) for code in tuning["grid"][0]["served"]]
        columns += [
            number("served", "served_mean", 8),
            number("unserved", "unserved_mean", 9),
            number("objective", "objective", 10),
        ]
        rows = [(f"{row['served_prior']:.1f}", row) for row in tuning["grid"]]
        tables.append(
            render_table(
                f"served_prior on XLM-T tweets ({tuning['split']} split): two-word accuracy"
                " on the desk / on the desk without the language",
                columns,
                rows,
                [_objective_line(tuning)],
                label="prior",
                label_width=8,
            )
        )
    return "\n\n".join(tables)
