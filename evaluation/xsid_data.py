"""xSID (``xsid/<lang>.<split>.conll``): intents and slots in 13 languages plus dialects.

The shared data root (``../shared/data``, its README.md) ships ``xsid/<lang>.valid.conll``;
the upstream test files (``xsid/<lang>.test.conll``) are held back. Suites evaluate on the
test files wherever a data root has them, else on the valid files, and say which in their
JSON (``split``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evaluation.records import Annotation, Record, gold_record
from nlu_components.core.bio import tags_to_spans
from nlu_components.core.examples import Example

# The 13 xSID languages with their own standard (Norwegian and the dialects are extra).
XSID_MAIN_LANGUAGES = ("en", "de", "da", "nl", "it", "id", "ja", "zh", "ar", "tr", "kk", "sr", "lt")
# Dialect files without their parent in the name ("de-ba" counts as "de" by its prefix).
_XSID_DIALECT_PARENT = {"gsw": "de", "nap": "it"}
# Sentences per language a --quick run evaluates on (:func:`quick_sample`).
QUICK_EVAL_SENTENCES = 100


@dataclass(frozen=True)
class Sentence:
    """One annotated xSID utterance: word tokens with BIO slot tags, one intent."""

    text: str
    tokens: tuple[str, ...]
    intent: str
    slots: tuple[str, ...]


def read_conll(path: Path) -> list[Sentence]:
    """Sentences of an xSID ``.conll`` file (``# text =``/``# intent =`` comments, then
    ``index<TAB>token<TAB>intent<TAB>slot`` rows, a blank line between sentences)."""
    sentences: list[Sentence] = []
    text = intent = ""
    tokens: list[str] = []
    slots: list[str] = []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("# text = "):
            text = line.removeprefix("# text = ").strip()
        elif line.startswith("# intent = "):
            intent = line.removeprefix("# intent = ").strip()
        elif line.strip() and not line.startswith("#"):
            columns = line.split("\t")
            tokens.append(columns[1])
            slots.append(columns[3] if len(columns) > 3 else "O")
        elif not line.strip() and tokens:
            sentences.append(Sentence(text, tuple(tokens), intent, tuple(slots)))
            text = intent = ""
            tokens, slots = [], []
    return sentences


def xsid_files(data_root: Path) -> tuple[str, dict[str, Path]]:
    """The split evaluated on ("test" where the root has test files, else "dev") and its
    files by name ("de", "de-ba", "gsw", ...)."""
    folder = data_root / "xsid"
    test = sorted(folder.glob("*.test.conll"))
    split, files = ("test", test) if test else ("dev", sorted(folder.glob("*.valid.conll")))
    if not files:
        raise FileNotFoundError(f"no xSID .conll files under {folder}")
    return split, {path.name.split(".", 1)[0]: path for path in files}


def xsid_language(name: str) -> str:
    """ISO 639-1 code an xSID file counts for: dialects count for their parent language."""
    return _XSID_DIALECT_PARENT.get(name, name.split("-", 1)[0])


def quick_sample(sentences: list[Sentence]) -> list[Sentence]:
    """Every n-th sentence, QUICK_EVAL_SENTENCES in all. xSID files are grouped by source
    (weather and alarms first, restaurants and music later), so their first sentences would
    be a sample without whole intents, which ranks pipelines differently from the full set."""
    step = max(1, len(sentences) // QUICK_EVAL_SENTENCES)
    return sentences[::step][:QUICK_EVAL_SENTENCES]


def zeroshot_split(
    data_root: Path, files: dict[str, Path], split: str
) -> tuple[list[Sentence], dict[str, list[Sentence]]]:
    """English's valid sentences to train on, and the evaluation sentences by language: every
    other main language's file (English's too where the upstream test files are there)."""
    train = read_conll(data_root / "xsid" / "en.valid.conll")
    evaluated = [lang for lang in XSID_MAIN_LANGUAGES if lang != "en" or split == "test"]
    return train, {lang: read_conll(files[lang]) for lang in evaluated if lang in files}


def word_spans(sentence: Sentence) -> tuple[str, list[tuple[int, int]]]:
    """The sentence text and its tokens' character spans (tokens are found in the text in
    order; where they are not, e.g. normalised tokens, the text is rebuilt from them)."""
    spans, cursor = [], 0
    for token in sentence.tokens:
        start = sentence.text.find(token, cursor)
        if start < 0:
            break
        spans.append((start, start + len(token)))
        cursor = start + len(token)
    else:
        return sentence.text, spans
    text = " ".join(sentence.tokens)
    spans, cursor = [], 0
    for token in sentence.tokens:
        spans.append((cursor, cursor + len(token)))
        cursor += len(token) + 1
    return text, spans


def to_example(sentence: Sentence) -> Example:
    """The sentence as a core training/evaluation ``Example``: its words, intent and slot
    spans."""
    text, words = word_spans(sentence)
    return Example(
        text, words=words, intent=sentence.intent, entities=tags_to_spans(words, sentence.slots)
    )


def gold_records(path: Path) -> list[Record]:
    """A ``.conll`` file as report records, filed under the file's name ("de-ba") with the
    language it counts for ("de") as gold."""
    group = path.name.split(".", 1)[0]
    records = []
    for sentence in read_conll(path):
        example = to_example(sentence)
        gold = Annotation(
            intent=example.intent,
            entities=tuple(example.entities or ()),
            language=xsid_language(group),
        )
        records.append(gold_record(example.text, group, gold))
    return records
