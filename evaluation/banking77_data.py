"""Banking77 (``banking77/{train,test}.csv``): 77 fine-grained online-banking intents, English."""

from __future__ import annotations

import csv
from pathlib import Path

from evaluation.records import Annotation, Record, gold_record

LANGUAGE = "en"


def read_csv(path: Path) -> list[tuple[str, str]]:
    """``(text, intent)`` rows of a Banking77 CSV file (columns ``text``, ``category``)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def gold_records(path: Path) -> list[Record]:
    """A Banking77 CSV file as report records: intents, in English."""
    return [
        gold_record(text, LANGUAGE, Annotation(intent=label, language=LANGUAGE))
        for text, label in read_csv(path)
    ]
