"""``lingodesk evaluate``: score a trained Rasa model on held-out NLU data, per language.

Run it after ``rasa test nlu`` (it adds to that report, it does not replace it)::

    lingodesk evaluate --model models --data data/test --out results/report

Every test message is parsed through Rasa's ``Agent`` exactly as the server parses it, and
its two-word prefix (four characters in Chinese and Japanese) a second time, for language ID
on short messages (:mod:`evaluation.rasa_parsing`). Gold labels: intent and entities from the
test data, sentiment from each example's metadata (``metadata: {sentiment: negative}``),
language from the file name (``data/test/de.yml`` is German). The report directory gets
``report.json``, ``report.md`` and PNG plots (:mod:`evaluation.report`).

Besides Rasa NLU files (YAML/JSON; a directory is read file by file), the public formats the
benchmarks read are accepted (:mod:`evaluation.test_data`): xSID ``<lang>.<split>.conll``,
Banking77 ``*.csv`` (English) and XLM-T ``<language>/<split>_text.txt`` (labels beside it).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from evaluation.rasa_data import trained_languages
from evaluation.rasa_parsing import parse_records
from evaluation.records import EvaluationError
from evaluation.report import build_report, write_report
from evaluation.test_data import load_test_data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options."""
    parser.add_argument(
        "--model",
        default="models",
        help="a trained model archive, or a directory (its latest model is used)",
    )
    parser.add_argument(
        "--data",
        nargs="+",
        default=["data/test"],
        help="NLU test files or directories, one language per file, named by its ISO code",
    )
    parser.add_argument("--out", default="results/report", help="the report directory")
    parser.add_argument(
        "--train-data",
        default="data/nlu",
        help="the model's training files: languages named there are trained, the others in "
        "the test data zero-shot (only file names are read)",
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the report, print where it is and the headline numbers. Relative
    paths are the project's (``lingodesk --project DIR``), as for ``lingodesk train``."""
    project = Path(args.project)
    data = [project / p for p in args.data]
    try:
        model = _model_archive(project / args.model)
        records = parse_records(model, load_test_data(data))
    except (EvaluationError, FileNotFoundError) as error:
        print(f"lingodesk evaluate: {error}", file=sys.stderr)
        return 1
    report = build_report(records, trained_languages(project / args.train_data))
    report["meta"] = {
        "model": str(model),
        "data": [str(p) for p in data],
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    out = project / args.out
    files = write_report(report, out)
    intent = report["overall"]["intent"]
    headline = (
        f"intent accuracy {intent['accuracy']:.3f}, macro-F1 {intent['macro_f1']:.3f}"
        if intent
        else "no intents scored"
    )
    print(f"Evaluated {len(records)} messages: {headline}.")
    print(f"Wrote {', '.join(f.name for f in files)} to {out}")
    return 0


def _model_archive(path: Path) -> Path:
    from rasa.exceptions import ModelNotFound
    from rasa.model import get_local_model

    try:
        return Path(get_local_model(str(path)))
    except ModelNotFound as error:
        raise EvaluationError(f"no trained model at {path}: train one with `rasa train`") from error
