"""XLM-T's unified multilingual tweet sentiment set (``xlmt_sentiment/<language>/``): one
folder per language, ``<split>_text.txt`` with ``<split>_labels.txt`` beside it (0, 1, 2 for
negative, neutral, positive), line by line."""

from __future__ import annotations

from pathlib import Path

from evaluation.records import Annotation, Record, gold_record

# The folders, by the language code they hold.
LANGUAGES = {
    "arabic": "ar",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hindi": "hi",
    "italian": "it",
    "portuguese": "pt",
    "spanish": "es",
}
LABELS = ("negative", "neutral", "positive")  # 0, 1, 2 in the files
TEXT_SUFFIX = "_text.txt"


def read_split(folder: Path, split: str) -> list[tuple[str, str]]:
    """``(tweet, sentiment)`` rows of one language folder's ``split`` ("train", "val", "test")."""
    texts = (folder / f"{split}{TEXT_SUFFIX}").read_text(encoding="utf-8").splitlines()
    labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    if len(texts) != len(labels):
        raise ValueError(f"{folder}: {len(texts)} texts but {len(labels)} labels in {split}")
    return [(text, LABELS[int(label)]) for text, label in zip(texts, labels)]


def gold_records(path: Path) -> list[Record]:
    """A ``<split>_text.txt`` file (its labels beside it) as report records: sentiment, in
    the language its folder is named for."""
    code = LANGUAGES.get(path.parent.name, path.parent.name)
    split = path.name.removesuffix(TEXT_SUFFIX)
    return [
        gold_record(text, code, Annotation(sentiment=label, language=code))
        for text, label in read_split(path.parent, split)
    ]
