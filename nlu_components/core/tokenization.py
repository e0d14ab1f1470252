"""Word boundaries for any language, without Rasa.

Each language gets spaCy's rule-based tokenizer (``spacy.blank(code)``: punctuation, clitic
and abbreviation rules, nothing to download); languages spaCy lacks get its multi-language
``xx`` rules. Scripts written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar) need a
segmenter: Japanese and Thai use spaCy's (SudachiPy, PyThaiNLP) when those packages are
installed; otherwise, and always for Chinese, each character of those scripts is its own
token while Latin words and numbers inside stay whole ("买iPhone" -> 买 | iPhone). Character
tokens are what character-based Chinese NLU uses, and they never hide an entity boundary.

Offsets are exact: ``text[start:end]`` is the token, for every script.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, NamedTuple

import regex

logger = logging.getLogger(__name__)

FALLBACK_LANGUAGE = "xx"

# Scripts written without spaces between words, as a regex character-class body. Script
# extensions, so that marks these scripts share (the prolonged sound mark "ー", "々") count.
UNSPACED_SCRIPTS = "".join(
    rf"\p{{scx={name}}}"
    for name in ("Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar")
)
_UNSPACED_CHAR = regex.compile(rf"[{UNSPACED_SCRIPTS}]")
_SURROGATE = regex.compile(r"[\ud800-\udfff]")
# One character of an unspaced script with its combining marks (a grapheme: Thai vowel signs
# stay on their consonant), a run of other letters and digits ("iPhone", "A12"), or any other
# single character (punctuation spaCy's rules left attached, such as the full-width comma).
_CHAR_OR_RUN = regex.compile(
    rf"(?=[{UNSPACED_SCRIPTS}])\X|(?:(?![{UNSPACED_SCRIPTS}])[\p{{L}}\p{{M}}\p{{N}}])+|\X"
)

# spaCy languages whose default tokenizer needs an optional package that a rule-based
# configuration avoids.
_RULE_BASED_CONFIG: dict[str, dict[str, Any]] = {
    "ko": {"nlp": {"tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}}},
    "vi": {"nlp": {"tokenizer": {"use_pyvi": False}}},
}
# spaCy languages whose tokenizer is a real segmenter for their unspaced script (when its
# package is installed).
_SEGMENTING_LANGUAGES = {"ja", "th"}
# spaCy's Chinese tokenizer is skipped: its character mode splits Latin words into letters
# too, and its word segmenters need pkuseg models or jieba.
_SKIPPED_SPACY_LANGUAGES = {"zh"}


class Span(NamedTuple):
    """A token as character offsets into the text."""

    start: int
    end: int


class _Pipeline(NamedTuple):
    tokenizer: Any
    segments_unspaced_scripts: bool


def without_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD.

    JSON's ``"\\ud800"`` decodes to a lone surrogate, which has no UTF-8 encoding, so spaCy
    and Hugging Face tokenizers fail on it. The replacement keeps the length, and with it
    every character offset.
    """
    return _SURROGATE.sub("\ufffd", text)


def tokenize(text: str, language: str | None) -> list[Span]:
    """Word tokens of ``text`` by the rules of ``language`` (ISO 639-1; None: ``xx``)."""
    pipeline = _pipeline(language or FALLBACK_LANGUAGE)
    spans = []
    for token in pipeline.tokenizer(without_surrogates(text)):
        if token.is_space:
            continue
        start = token.idx
        if pipeline.segments_unspaced_scripts or not _UNSPACED_CHAR.search(token.text):
            spans.append(Span(start, start + len(token.text)))
            continue
        spans.extend(
            Span(start + m.start(), start + m.end()) for m in _CHAR_OR_RUN.finditer(token.text)
        )
    return spans


@functools.cache
def _pipeline(language: str) -> _Pipeline:
    """spaCy's tokenizer for ``language``, built once per process."""
    import spacy

    if language not in _SKIPPED_SPACY_LANGUAGES:
        try:
            nlp = spacy.blank(language, config=_RULE_BASED_CONFIG.get(language, {}))
            return _Pipeline(nlp.tokenizer, language in _SEGMENTING_LANGUAGES)
        except ImportError as error:  # no such spaCy language, or its segmenter is missing
            logger.info("spaCy tokenizer for %r unavailable (%s); using %r", language,
                        str(error).split("\n")[0], FALLBACK_LANGUAGE)  # fmt: skip
    return _Pipeline(spacy.blank(FALLBACK_LANGUAGE).tokenizer, False)
