"""The two offline language-ID models and one space of language codes for their labels.

fastText ``lid.176`` and langid.py (``py3langid``) label languages differently (ISO 639-1,
ISO 639-3, regional varieties, macrolanguage members); :class:`CodeSpace` maps both onto one
vector of ISO 639-1 codes so their probabilities can be combined
(:mod:`nlu_components.core.language_id`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# lid.176 labels without an ISO 639-1 code that are regional varieties of a written standard
# with one. Other labels without an ISO 639-1 code (Cebuano, Lojban, ...) are left out.
LID176_PARENT_LANGUAGE: dict[str, str] = {
    "als": "de", "bar": "de", "pfl": "de", "nds": "de", "vls": "nl",
    "arz": "ar", "wuu": "zh", "yue": "zh",
    "nap": "it", "scn": "it", "vec": "it", "lmo": "it", "pms": "it", "eml": "it",
    "min": "ms", "azb": "az", "ckb": "ku", "pnb": "pa", "hif": "hi", "dty": "ne",
}  # fmt: skip

# ISO 639 macrolanguages whose members have their own ISO 639-1 codes, most widely written
# member first (CLDR population figures). Neither detector separates these reliably on chat
# text (lid.176 called 6 of 12 hand-written Croatian support messages "sr", 4 "hr"), so they
# are pooled.
MACROLANGUAGE_MEMBERS: dict[str, tuple[str, ...]] = {
    "sh": ("sr", "hr", "bs"),
    "ms": ("id", "ms"),
    "no": ("no", "nb", "nn"),
}
POOL_OF = {member: macro for macro, members in MACROLANGUAGE_MEMBERS.items() for member in members}

# Legacy and alias primary subtags a client may send, mapped to what this module reports.
TAG_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "nb": "no", "sh": "sr"}


class CodeSpace:
    """Maps each detector's labels onto one vector of codes (ISO 639-1, macrolanguages
    pooled)."""

    def __init__(self, label_sets: Sequence[Sequence[str]]) -> None:
        self.codes = sorted({c for labels in label_sets for c in map(self.code_of, labels) if c})
        self._index = {c: i for i, c in enumerate(self.codes)}

    @staticmethod
    def code_of(label: str) -> str | None:
        code = TAG_ALIASES.get(label, LID176_PARENT_LANGUAGE.get(label, label))
        if len(code) != 2:
            return None
        return POOL_OF.get(code, code)

    def indices(self, labels: Sequence[str]) -> np.ndarray:
        """Each label's position in :attr:`codes`; labels without a code get one past the
        end, a slot that is summed and dropped."""
        dropped = len(self.codes)
        return np.array([self._index.get(self.code_of(label) or "", dropped) for label in labels])

    def pool(self, probabilities: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """A detector's label probabilities summed into codes."""
        return np.bincount(indices, probabilities, minlength=len(self.codes) + 1)[:-1]


@functools.cache
def _load_fasttext(path: Path) -> Any:
    import fasttext

    return fasttext.load_model(str(path))


@functools.lru_cache(maxsize=1)
def _load_langid() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class FastTextModel:
    """fastText lid.176: probabilities for all 176 labels."""

    def __init__(self, path: Path) -> None:
        self._model = _load_fasttext(path)
        self.labels = [label.removeprefix("__label__") for label in self._model.get_labels()]
        self._row = {f"__label__{label}": i for i, label in enumerate(self.labels)}

    def probabilities(self, text: str) -> np.ndarray:
        labels, probs = self._model.predict(text, k=-1, threshold=0.0)
        out = np.zeros(len(self.labels))
        out[[self._row[label] for label in labels]] = probs
        return out


class LangidModel:
    """langid.py's byte n-gram naive Bayes as retrained in py3langid 0.4 (142 languages,
    probabilities calibrated for text length)."""

    def __init__(self) -> None:
        self._model = _load_langid()
        self.labels = list(self._model.labels)
        self._row = {label: i for i, label in enumerate(self.labels)}

    def probabilities(self, text: str) -> np.ndarray:
        out = np.zeros(len(self.labels))
        for label, p in self._model.rank(text):
            out[self._row[label]] = p
        return out
