"""``lingodesk evaluate``: score a trained Rasa model on held-out NLU data, per language.

Run it after ``rasa test nlu`` (it adds to that report, it does not replace it)::

    lingodesk evaluate --model models --data data/test --out results/report

Every test message is parsed through Rasa's ``Agent`` exactly as the server parses it, and
its two-word prefix (four characters in Chinese and Japanese) a second time, for language ID
on short messages. Gold labels: intent and entities from the test data, sentiment from each
example's metadata (``metadata: {sentiment: negative}``), language from the file name
(``data/test/de.yml`` is German). The report directory gets ``report.json``, ``report.md``
and PNG plots (:mod:`bot.evaluation`).

Besides Rasa NLU files (YAML/JSON; a directory is read file by file), the public formats the
benchmarks read are accepted when run from the repository (``benchmarks/`` is not part of the
installed package): xSID ``<lang>.<split>.conll``, Banking77 ``*.csv`` (English) and XLM-T
``<language>/<split>_text.txt`` (labels beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.evaluation import Annotation, Record, build_report, short_message, write_report
from nlu_components.core.examples import EntitySpan
from nlu_components.core.language_id import normalize_language_tag

SENTIMENT_KEY = "sentiment"
PUBLIC_FORMATS_HINT = (
    "reading xSID, Banking77 and XLM-T files uses the repository's benchmarks package: run "
    "`python -m bot.cli evaluate ...` from the repository root"
)


class EvaluationError(RuntimeError):
    """Test data or model that cannot be evaluated; the message says what to fix."""


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


def trained_languages(train_data: Path) -> set[str] | None:
    """Languages the model was trained on, from its training files' names (``de.yml``); None
    where that cannot be told (no such path, or files not named by language)."""
    if not train_data.exists():
        return None
    files = [train_data] if train_data.is_file() else sorted(train_data.rglob("*"))
    codes = {_language_code(f.name.split(".", 1)[0]) for f in files if f.is_file()}
    return {code for code in codes if code} or None


def _language_code(name: str) -> str | None:
    """The ISO 639-1 code a file name stands for ("de", "de-ba"), None if it is no code."""
    primary = name.split("-", 1)[0]
    return normalize_language_tag(name) if len(primary) == 2 else None


# -- reading test data ------------------------------------------------------------------------
def load_test_data(paths: Sequence[Path]) -> list[Record]:
    """Gold records of every test file under ``paths`` (directories are walked in name
    order; files no reader understands are skipped), with nothing predicted yet."""
    records: list[Record] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no test data at {path}")
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for file in files:
            records += _read_file(file)
    if not records:
        raise EvaluationError(f"no NLU test examples in {', '.join(map(str, paths))}")
    return records


def _read_file(path: Path) -> list[Record]:
    if path.suffix == ".conll":
        return _read_xsid(path)
    if path.suffix == ".csv":
        return _read_banking77(path)
    if path.name.endswith("_text.txt"):
        return _read_xlmt(path)
    from rasa.shared.data import is_nlu_file

    return _read_rasa(path) if is_nlu_file(str(path)) else []


def _record(text: str, group: str, gold: Annotation) -> Record:
    return Record(text, group, gold, Annotation())


def _read_rasa(path: Path) -> list[Record]:
    from rasa.shared.nlu.constants import METADATA_EXAMPLE, METADATA_INTENT
    from rasa.shared.nlu.training_data.loading import load_data

    group = path.name.split(".", 1)[0]
    records = []
    for message in load_data(str(path)).nlu_examples:
        metadata = message.get("metadata") or {}
        sentiment = (metadata.get(METADATA_EXAMPLE) or {}).get(SENTIMENT_KEY) or (
            metadata.get(METADATA_INTENT) or {}
        ).get(SENTIMENT_KEY)
        entities = tuple(
            EntitySpan(e["start"], e["end"], e["entity"]) for e in message.get("entities") or []
        )
        gold = Annotation(
            intent=message.get("intent"),
            entities=entities,
            sentiment=sentiment,
            language=_language_code(group),
        )
        records.append(_record(message.get("text"), group, gold))
    return records


def _read_xsid(path: Path) -> list[Record]:
    try:
        from benchmarks.common import read_conll, xsid_language
        from benchmarks.xsid import to_example
    except ImportError as error:
        raise EvaluationError(PUBLIC_FORMATS_HINT) from error
    group = path.name.split(".", 1)[0]
    records = []
    for sentence in read_conll(path):
        example = to_example(sentence)
        gold = Annotation(
            intent=example.intent,
            entities=tuple(example.entities or ()),
            language=xsid_language(group),
        )
        records.append(_record(example.text, group, gold))
    return records


def _read_banking77(path: Path) -> list[Record]:
    try:
        from benchmarks.banking77 import read_csv
    except ImportError as error:
        raise EvaluationError(PUBLIC_FORMATS_HINT) from error
    return [
        _record(text, "en", Annotation(intent=label, language="en"))
        for text, label in read_csv(path)
    ]


def _read_xlmt(path: Path) -> list[Record]:
    try:
        from benchmarks.sentiment import LANGUAGES, read_split
    except ImportError as error:
        raise EvaluationError(PUBLIC_FORMATS_HINT) from error
    code = LANGUAGES.get(path.parent.name, path.parent.name)
    split = path.name.removesuffix("_text.txt")
    return [
        _record(text, code, Annotation(sentiment=label, language=code))
        for text, label in read_split(path.parent, split)
    ]


# -- parsing through Rasa ---------------------------------------------------------------------
def quiet_rasa() -> None:
    """Warnings and errors only from Rasa and TensorFlow: a debug line per parsed message
    would drown the report."""
    import logging

    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)


async def parse(agent: Any, text: str) -> tuple[dict[str, Any], bool]:
    """Rasa's parse result for ``text`` as the server computes it, and whether the
    FallbackClassifier answered ``nlu_fallback``; that prediction is undone the way
    ``rasa test nlu`` undoes it, so the classifier's own guess is what gets scored."""
    from rasa.core.channels.channel import UserMessage
    from rasa.nlu.classifiers import fallback_classifier

    result = await agent.processor.parse_message(UserMessage(text))
    fell_back = fallback_classifier.is_fallback_classifier_prediction(result)
    if fell_back:
        result = fallback_classifier.undo_fallback_prediction(result)
    return result, fell_back


def entity_spans(result: dict[str, Any]) -> list[EntitySpan]:
    """The entities of a parse result as character spans (entities without offsets, which
    no span metric can score, are left out)."""
    return [
        EntitySpan(
            e["start"],
            e["end"],
            e["entity"],
            e.get("role"),
            e.get("group"),
            float(e.get("confidence_entity") or 1.0),
        )
        for e in result.get("entities") or []
        if e.get("start") is not None and e.get("end") is not None
    ]


def _language(result: dict[str, Any]) -> str | None:
    language = result.get("language")
    return language.get("code") if isinstance(language, dict) else None


def parse_records(model: Path, records: Sequence[Record]) -> list[Record]:
    """``records`` with what the model at ``model`` predicts for each."""
    from rasa.core.agent import Agent

    quiet_rasa()
    agent = Agent.load(str(model))
    if not agent.is_ready():
        raise EvaluationError(f"{model} has no NLU model to evaluate")
    return asyncio.run(_predict_all(agent, records))


async def _predict_all(agent: Any, records: Sequence[Record]) -> list[Record]:
    predicted = []
    for record in records:
        result, fell_back = await parse(agent, record.text)
        short_language = None
        if _language(result) is not None:
            short_text = short_message(record.text, record.gold.language)
            short_language = _language((await parse(agent, short_text))[0])
        sentiment = result.get(SENTIMENT_KEY)
        intent = result.get("intent") or {}
        annotation = Annotation(
            intent=intent.get("name"),
            confidence=intent.get("confidence"),
            entities=tuple(entity_spans(result)),
            sentiment=sentiment.get("label") if isinstance(sentiment, dict) else None,
            language=_language(result),
            short_language=short_language,
            fallback=fell_back,
        )
        predicted.append(dataclasses.replace(record, predicted=annotation))
    return predicted
