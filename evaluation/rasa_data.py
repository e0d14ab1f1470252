"""Rasa NLU test data (``data/test/<lang>.yml``, YAML or JSON) as report records, and the
languages a model was trained on, told from its training files' names.

Gold labels: intent and entities from the test data, sentiment and anger from each example's
metadata (``metadata: {sentiment: negative, anger: frustrated}``, or the intent's), language
from the file name (``data/test/de.yml`` is German).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.records import Annotation, Record, gold_record
from nlu_components.core.examples import ANGER_LEVELS, EntitySpan
from nlu_components.core.language_id import normalize_language_tag

# Where sentiment stands: the examples' (or intents') metadata key, and the parse result's.
SENTIMENT_KEY = "sentiment"
# The anger level in example metadata (data/README.md), and the parse result's anger.
ANGER_KEY = "anger"


def language_code(name: str) -> str | None:
    """The ISO 639-1 code a file name stands for ("de", "de-ba"), None if it is no code."""
    primary = name.split("-", 1)[0]
    return normalize_language_tag(name) if len(primary) == 2 else None


def trained_languages(train_data: Path) -> set[str] | None:
    """Languages the model was trained on, from its training files' names (``de.yml``); None
    where that cannot be told (no such path, or files not named by language)."""
    if not train_data.exists():
        return None
    files = [train_data] if train_data.is_file() else sorted(train_data.rglob("*"))
    codes = {language_code(f.name.split(".", 1)[0]) for f in files if f.is_file()}
    return {code for code in codes if code} or None


def is_rasa_nlu_file(path: Path) -> bool:
    """Whether Rasa reads ``path`` as NLU data (YAML with an ``nlu:`` key, or Rasa JSON)."""
    from rasa.shared.data import is_nlu_file

    return bool(is_nlu_file(str(path)))


def gold_anger_level(annotations: dict[str, Any]) -> str | None:
    """An example's anger level as data/README.md defines it: its label; calm where it is
    neutral or positive; unknown (None) for a negative example without a label."""
    level = annotations.get(ANGER_KEY)
    if level in ANGER_LEVELS:
        return level
    if annotations.get(SENTIMENT_KEY) in ("neutral", "positive"):
        return "calm"
    return None


def gold_records(path: Path) -> list[Record]:
    """A Rasa NLU file as report records, filed under the file's name ("de")."""
    from rasa.shared.nlu.constants import METADATA_EXAMPLE, METADATA_INTENT
    from rasa.shared.nlu.training_data.loading import load_data

    group = path.name.split(".", 1)[0]
    records = []
    for message in load_data(str(path)).nlu_examples:
        metadata = message.get("metadata") or {}
        annotations = {
            **(metadata.get(METADATA_INTENT) or {}),
            **(metadata.get(METADATA_EXAMPLE) or {}),
        }
        sentiment = annotations.get(SENTIMENT_KEY)
        level = gold_anger_level(annotations)
        entities = tuple(
            EntitySpan(e["start"], e["end"], e["entity"]) for e in message.get("entities") or []
        )
        gold = Annotation(
            intent=message.get("intent"),
            entities=entities,
            sentiment=sentiment,
            language=language_code(group),
            anger=ANGER_LEVELS.get(level or ""),
            anger_level=level,
        )
        records.append(gold_record(message.get("text"), group, gold))
    return records
