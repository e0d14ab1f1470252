#!/usr/bin/env python3
"""Count NLU examples per intent and language in data/nlu and data/test.

Prints one table per data set (intents x languages) and the sentiment balance per language,
then exits non-zero when a minimum is not met:

- data/nlu/en.yml: at least 15 examples per intent,
- data/nlu/<other>.yml: at least 5 examples per intent,
- data/test/<lang>.yml: at least 3 examples per intent,

or when an example's metadata breaks the schema in data/README.md ("Sentiment and anger
annotation"): no `sentiment`; a negative training example (data/nlu) without `anger`; an
`anger` outside calm/frustrated/angry; a `wants_human` or `threat` that is not a boolean.
It also prints the anger levels and the threat / wants_human flags per language.
The intents expected in every file are the ones listed in domain.yml.

Usage: scripts/count_examples.py [--data DATA_DIR] [--domain DOMAIN_FILE]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SENTIMENTS = ("negative", "neutral", "positive")
# The anger head's levels and the per-message flags the signals head learns (data/README.md).
ANGER_LEVELS = ("calm", "frustrated", "angry")
FLAGS = ("wants_human", "threat")
MIN_EN = 15
MIN_OTHER_TRAINED = 5
MIN_TEST = 3


@dataclass
class LanguageFile:
    """Examples of one `<lang>.yml` file."""

    lang: str
    per_intent: Counter[str] = field(default_factory=Counter)
    sentiments: Counter[str] = field(default_factory=Counter)
    missing_sentiment: list[str] = field(default_factory=list)
    anger: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    # Negative examples without an anger level: an error for training data only, since the
    # held-out sets label sentiment alone.
    missing_anger: list[str] = field(default_factory=list)
    bad_labels: list[str] = field(default_factory=list)


def _examples(block: Any) -> list[tuple[str, Any]]:
    """(text, metadata) pairs of an intent's `examples`, in either Rasa YAML form."""
    if isinstance(block, str):  # "- text\n- text" block without metadata
        lines = (line.strip() for line in block.splitlines())
        return [(line[1:].strip(), None) for line in lines if line.startswith("-")]
    if isinstance(block, list):  # [{text: ..., metadata: {...}}, ...]
        return [
            (str(item.get("text", "")).strip(), item.get("metadata"))
            for item in block
            if isinstance(item, dict)
        ]
    return []


def _check_signals(result: LanguageFile, example: str, metadata: dict[str, Any]) -> None:
    """Counts the anger level and flags of one example and records schema violations."""
    anger = metadata.get("anger")
    if anger in ANGER_LEVELS:
        result.anger[anger] += 1
    elif anger is not None:
        result.bad_labels.append(f"anger must be one of {'/'.join(ANGER_LEVELS)}: {example}")
    elif metadata.get("sentiment") == "negative":
        result.missing_anger.append(example)
    for flag in FLAGS:
        value = metadata.get(flag)
        if value is True:
            result.flags[flag] += 1
        elif value is not None and value is not False:  # YAML `yes`/`"true"`/1 are not bools
            result.bad_labels.append(f"{flag} must be true or false: {example}")


def read_language_file(path: Path) -> LanguageFile:
    """Counts the examples of every intent in one NLU YAML file."""
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    result = LanguageFile(lang=path.stem)
    for item in content.get("nlu") or []:
        if not isinstance(item, dict) or "intent" not in item:
            continue  # synonym, regex or lookup entry
        intent = str(item["intent"])
        for text, metadata in _examples(item.get("examples")):
            result.per_intent[intent] += 1
            metadata = metadata if isinstance(metadata, dict) else {}
            sentiment = metadata.get("sentiment")
            if sentiment in SENTIMENTS:
                result.sentiments[sentiment] += 1
            else:
                result.missing_sentiment.append(f"{intent}: {text}")
            _check_signals(result, f"{intent}: {text}", metadata)
    return result


def domain_intents(domain: Path) -> list[str]:
    """Intents listed in the domain file (empty when there is no domain file)."""
    if not domain.is_file():
        return []
    content = yaml.safe_load(domain.read_text(encoding="utf-8")) or {}
    intents: list[str] = []
    for entry in content.get("intents") or []:
        intents.append(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return intents


def read_folder(folder: Path) -> list[LanguageFile]:
    """All `<lang>.yml` files of a folder, English first, then alphabetical."""
    files = [read_language_file(p) for p in sorted(folder.glob("*.yml"))]
    return sorted(files, key=lambda f: (f.lang != "en", f.lang))


def print_table(title: str, files: list[LanguageFile], intents: list[str]) -> None:
    """Prints an intents x languages table with totals and the sentiment balance."""
    width = max([len("sentiment %"), *(len(i) for i in intents)])
    langs = [f.lang for f in files]
    print(f"\n{title}")
    print(f"{'intent':<{width}} " + " ".join(f"{lang:>5}" for lang in langs) + "   total")
    for intent in intents:
        counts = [f.per_intent[intent] for f in files]
        cells = " ".join(f"{c:>5}" for c in counts)
        print(f"{intent:<{width}} {cells}   {sum(counts):>5}")
    totals = [sum(f.per_intent.values()) for f in files]
    print(f"{'total':<{width}} " + " ".join(f"{t:>5}" for t in totals) + f"   {sum(totals):>5}")
    for sentiment in SENTIMENTS:
        shares = []
        for f, total in zip(files, totals):
            shares.append(f"{100 * f.sentiments[sentiment] / total:>4.0f}%" if total else "    -")
        print(f"{sentiment + ' %':<{width}} " + " ".join(shares))


def print_signals(files: list[LanguageFile]) -> None:
    """Prints the anger levels and the explicit flags per language (request_human examples
    imply wants_human without a flag, so they are in the intent table, not here)."""
    rows = [(f"anger {level}", lambda f, lv=level: f.anger[lv]) for level in ANGER_LEVELS]
    rows.append(("anger missing", lambda f: len(f.missing_anger)))
    rows += [(flag, lambda f, fl=flag: f.flags[fl]) for flag in FLAGS]
    width = max(len(name) for name, _ in rows)
    print(f"{'signal':<{width}} " + " ".join(f"{f.lang:>5}" for f in files) + "   total")
    for name, count in rows:
        counts = [count(f) for f in files]
        print(f"{name:<{width}} " + " ".join(f"{c:>5}" for c in counts) + f"   {sum(counts):>5}")


def shortfalls(files: list[LanguageFile], intents: list[str], test: bool) -> list[str]:
    """Human-readable list of the minimums a data set misses."""
    problems = []
    folder = "test" if test else "nlu"
    for f in files:
        minimum = MIN_TEST if test else MIN_EN if f.lang == "en" else MIN_OTHER_TRAINED
        for intent in intents:
            if f.per_intent[intent] < minimum:
                problems.append(
                    f"{'test' if test else 'nlu'}/{f.lang}.yml: {intent} has "
                    f"{f.per_intent[intent]} examples, needs {minimum}"
                )
        problems += [
            f"{folder}/{f.lang}.yml: no sentiment metadata: {example}"
            for example in f.missing_sentiment
        ]
        problems += [f"{folder}/{f.lang}.yml: {problem}" for problem in f.bad_labels]
        if not test:
            problems += [
                f"nlu/{f.lang}.yml: negative example without anger: {example}"
                for example in f.missing_anger
            ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data", help="data folder")
    parser.add_argument("--domain", type=Path, default=REPO / "domain.yml", help="domain file")
    args = parser.parse_args(argv)

    trained = read_folder(args.data / "nlu")
    held_out = read_folder(args.data / "test")
    intents = domain_intents(args.domain)
    if not intents:  # no domain: expect every intent seen anywhere
        seen: set[str] = set()
        for f in trained + held_out:
            seen.update(f.per_intent)
        intents = sorted(seen)

    print_table(f"Training examples ({args.data / 'nlu'})", trained, intents)
    print_signals(trained)
    print_table(f"Held-out test examples ({args.data / 'test'})", held_out, intents)
    if any(f.anger or f.flags for f in held_out):
        print_signals(held_out)

    problems = shortfalls(trained, intents, test=False) + shortfalls(held_out, intents, test=True)
    if not trained:
        problems.append(f"no training files in {args.data / 'nlu'}")
    if not held_out:
        problems.append(f"no test files in {args.data / 'test'}")
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(
        f"\nAll minimums met (nlu en >= {MIN_EN}, other trained >= {MIN_OTHER_TRAINED}, "
        f"test >= {MIN_TEST} per intent); every example has a sentiment, every negative "
        "training example an anger level, every flag is a boolean."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
