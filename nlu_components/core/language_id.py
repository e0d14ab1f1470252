"""Language identification for short chat messages, without Rasa.

Off-the-shelf language ID is trained on sentences; customer chat is "ok", "hallo", an order
number, an emoji, a product name inside a Chinese sentence. :class:`LanguageIdentifier`
turns two small offline models into a decision a support desk can route on:

1. **Clean** what carries no evidence of the writer's language: URLs, e-mails, anything
   containing a digit (order numbers, leetspeak codes), punctuation, emoji, quoted spans and
   runs of capitalised words (titles, brand and product names), and Latin-script words inside
   a message written in another script. ALL CAPS is folded. Input is capped
   (:data:`MAX_INPUT_CHARS`, :data:`MAX_MODEL_CHARS`) so a 10,000-character message costs
   what a paragraph does.
2. **Script rules**: a script that only one language writes decides alone (kana: Japanese,
   Hangul: Korean, Thai, Greek, ...); Han without kana is Chinese, with Japanese still
   plausible for the fallbacks.
3. **Two detectors, one vote**: fastText ``lid.176`` and langid.py's byte n-gram naive Bayes
   (``py3langid``) err differently on short text; their geometric mean is more accurate
   than either (``python -m benchmarks langid`` measures fastText and the combination).
   The desk's languages (the bot's, and those a team of agents reads) get a prior
   (:data:`SERVED_PRIOR`): two words of Portuguese are not Galician on a Portuguese desk.
4. **ISO 639-1 out**: lid.176's regional varieties count for the written standard an agent
   answers in (Alemannic and Bavarian: de, Egyptian Arabic: ar, Cantonese and Wu: zh,
   Neapolitan: it, ...). Members of an ISO 639 macrolanguage that the models cannot tell
   apart (Serbo-Croatian sr/hr/bs, Malay id/ms, Norwegian no/nn) are pooled; the pool reports
   the member the bot serves, else its most widely written member.
5. **Fallbacks** (:meth:`LanguageIdentifier.identify`): text that is too short, not confident,
   or has no words at all falls back to the client's hint, then the conversation's language,
   then the default, each only where the text's script allows it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import regex

from nlu_components.core.language_models import (
    MACROLANGUAGE_MEMBERS,
    TAG_ALIASES,
    CodeSpace,
    FastTextModel,
    LangidModel,
)
from nlu_components.core.tokenization import UNSPACED_SCRIPTS, without_surrogates

Source = Literal["model", "session", "metadata", "default"]

SETUP_COMMAND = "python -m nlu_components.assets"

# Only this much of a message is looked at, and only this much cleaned text reaches the models:
# language is evident long before, and the cost must not grow with the input.
MAX_INPUT_CHARS = 1000
MAX_MODEL_CHARS = 300

# Weight of fastText in the geometric mean with langid.py (0.5: neither is trusted more).
FASTTEXT_WEIGHT = 0.5
# Probability floor inside the logarithms: one detector's near-zero cannot veto the other's
# strong vote outright.
_EPSILON = 1e-4
# Log-odds added to the score of each language the desk serves or expects: a desk's customers
# mostly write in them, and on a two-word message that tips "Boa tarde" from Galician to
# Portuguese. Chosen by `python -m benchmarks langid --tune` on XLM-T's train tweets (two-word
# prefixes): the mean accuracy of each language on a desk that serves it and on one that does
# not, weighed 0.9 to 0.1 as such a desk's traffic would be; reported on the val tweets and on
# xSID, unserved languages included (docs/language-id.md).
SERVED_PRIOR = 1.5
# Beyond this the prior, not the text, would decide (e^5: 148 to 1).
MAX_SERVED_PRIOR = 5.0
# A fallback language less probable than this given a text in a non-Latin script is ruled out
# by the text itself (German for Cyrillic text, say).
PLAUSIBILITY_FLOOR = 0.01

# Scripts that settle the language by themselves: the first code is reported, the others stay
# plausible for the fallbacks ("東京" may be Japanese). "Japanese" stands for any kana.
SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "Japanese": ("ja",), "Han": ("zh", "ja"), "Hangul": ("ko",), "Thai": ("th",),
    "Lao": ("lo",), "Khmer": ("km",), "Myanmar": ("my",), "Greek": ("el",),
    "Georgian": ("ka",), "Armenian": ("hy",), "Sinhala": ("si",), "Tamil": ("ta",),
    "Telugu": ("te",), "Kannada": ("kn",), "Malayalam": ("ml",), "Gujarati": ("gu",),
    "Gurmukhi": ("pa",), "Oriya": ("or",), "Tibetan": ("bo",), "Thaana": ("dv",),
    "Ethiopic": ("am",),
}  # fmt: skip

_QUOTED = regex.compile(r'"[^"]*"|“[^”]*”|„[^“”]*[“”]|«[^»]*»|‹[^›]*›|「[^」]*」|『[^』]*』')
# In scripts written without spaces a "token with a digit" must stop at the letters.
_URL_EMAIL_DIGITS = regex.compile(
    r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|@\w+"
    rf"|[^\s{UNSPACED_SCRIPTS}]*\d[^\s{UNSPACED_SCRIPTS}]*"
)
# Everything but letters, combining marks and word-internal apostrophes/hyphens.
_NON_WORD = regex.compile(r"(?:(?<!\p{L})['’-]|['’-](?!\p{L})|[^\p{L}\p{M}\s'’-])+")
_TITLE_WORD = r"\p{Lu}[\p{Ll}\p{M}'’-]*"
# Two or more capitalised words in a row, not at the start of the message.
_TITLE_RUN = regex.compile(rf"(?<=\S\s+)\b{_TITLE_WORD}(?:\s+{_TITLE_WORD})+\b")
_LETTER = regex.compile(r"\p{L}")
_LATIN = regex.compile(r"\p{Latin}+")
_NON_LATIN_LETTER = regex.compile(r"[^\P{L}\p{Latin}]")
# Non-Latin scripts with a rule: the ones that decide alone, and the ones shared by several
# languages that the models then separate.
_SCRIPTS = {
    name: regex.compile(rf"\p{{Script={name}}}")
    for name in ("Cyrillic", "Arabic", "Hebrew", "Devanagari", "Bengali", "Hiragana", "Katakana",
                 *SCRIPT_LANGUAGES.keys() - {"Japanese"})
}  # fmt: skip


@dataclass(frozen=True)
class LanguageResult:
    """The language of one message and where the decision came from.

    ``confidence`` is always the models' probability of ``code`` given this text and the
    desk's languages (0.0 when it has no words), also when ``source`` says a fallback
    decided: a router can tell new evidence from carried-over context.
    """

    code: str
    confidence: float
    source: Source
    ranking: tuple[tuple[str, float], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The ``language`` parse-result value (docs/architecture.md)."""
        return {
            "code": self.code,
            "confidence": round(self.confidence, 4),
            "source": self.source,
            "ranking": [{"code": c, "confidence": round(p, 4)} for c, p in self.ranking],
        }


@dataclass(frozen=True)
class LanguagePrediction:
    """What the text alone says: the models' view before any fallback."""

    probabilities: dict[str, float] = field(repr=False)
    letters: int
    script: str | None = None
    ranking: tuple[tuple[str, float], ...] = ()

    @property
    def code(self) -> str | None:
        """The most probable language, None for text without words."""
        return self.ranking[0][0] if self.ranking else None

    @property
    def confidence(self) -> float:
        return self.ranking[0][1] if self.ranking else 0.0

    def probability(self, code: str) -> float:
        return self.probabilities.get(code, 0.0)

    def allows(self, code: str) -> bool:
        """Whether the text could be written in ``code``: anyone types "ok" or a brand name
        in Latin letters, but Cyrillic or kana rule out German."""
        if self.script is None:
            return True
        if self.script in SCRIPT_LANGUAGES:
            return code in SCRIPT_LANGUAGES[self.script]
        return self.probability(code) >= PLAUSIBILITY_FLOOR


def normalize_language_tag(tag: object) -> str | None:
    """ISO 639-1 code of a BCP-47 tag ("de-DE", "zh_Hant_TW", "PT"), None if it is not one."""
    if not isinstance(tag, str):
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    if len(primary) != 2 or not primary.isascii() or not primary.isalpha():
        return None
    return TAG_ALIASES.get(primary, primary)


def _language_codes(setting: str, tags: Sequence[str]) -> tuple[str, ...]:
    codes = [normalize_language_tag(tag) for tag in tags]
    if None in codes:
        raise ValueError(f"{setting} must be ISO 639-1 codes: {list(tags)}")
    return tuple(code for code in codes if code)


def has_words(text: str) -> bool:
    """False for text that is only digits, punctuation, URLs, e-mails, handles or emoji."""
    return bool(_LETTER.search(_URL_EMAIL_DIGITS.sub(" ", _capped(text))))


def script_counts(text: str) -> Counter[str]:
    """Letters per non-Latin Unicode script, for the scripts the identifier has rules for."""
    return Counter(
        {name: n for name, pattern in _SCRIPTS.items() if (n := len(pattern.findall(text)))}
    )


def evidence_text(text: str, min_letters: int) -> tuple[str, str | None]:
    """The part of ``text`` that speaks for its writer's language, lower-cased, and the
    script that decides it (None: Latin or no letters).

    A removal that would leave fewer than ``min_letters`` letters is undone: for "Hi Anna"
    the name is all the evidence there is.
    """
    text = _capped(text)
    text = _keep_if_enough(_QUOTED.sub(" ", text), text, min_letters)
    text = _NON_WORD.sub(" ", _URL_EMAIL_DIGITS.sub(" ", text))
    if not all(word[0].isupper() for word in text.split()):  # Title Case Everywhere is a style
        text = _keep_if_enough(_TITLE_RUN.sub(" ", text), text, min_letters)
    other = script_counts(text) if _NON_LATIN_LETTER.search(text) else Counter()
    script = None
    if other.total() >= 2:
        # Latin-script names, brands and codes are common inside messages in other scripts;
        # the reverse is rare.
        text = _LATIN.sub(" ", text)
        kana = other.get("Hiragana", 0) + other.get("Katakana", 0)
        script = "Japanese" if kana else max(other, key=other.__getitem__)
    return " ".join(text.lower().split())[:MAX_MODEL_CHARS], script


def _capped(text: str) -> str:
    return without_surrogates(text[:MAX_INPUT_CHARS])


def _keep_if_enough(reduced: str, original: str, min_letters: int) -> str:
    return reduced if len(_LETTER.findall(reduced)) >= min_letters else original


def _softmax(log_p: np.ndarray) -> np.ndarray:
    p = np.exp(log_p - log_p.max())
    return p / p.sum()


class LanguageIdentifier:
    """Identifies the language of chat messages; see the module docstring for how.

    Args:
        model_path: fastText ``lid.176.ftz`` (built into ``models/`` by the set-up).
        supported_languages: the bot's languages. They decide which member a macrolanguage
            pool reports (a Croatian desk gets "hr", not "sr") and get ``served_prior``;
            nothing is restricted to them, since routing needs the true language of
            customers the bot cannot serve.
        expected_languages: languages the bot does not answer in but the desk expects
            (a team of agents reads them): they get ``served_prior`` too.
        served_prior: log-odds added to the score of each supported and expected language
            (0: none).
        min_confidence: below this probability the text does not decide alone.
        min_chars: text with fewer letters does not decide alone.
        default_language: the last fallback.
        top_k: length of the ranking reported.
    """

    def __init__(
        self,
        model_path: str | Path,
        supported_languages: Sequence[str] = (),
        expected_languages: Sequence[str] = (),
        min_confidence: float = 0.5,
        min_chars: int = 4,
        default_language: str = "en",
        top_k: int = 3,
        served_prior: float = SERVED_PRIOR,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"Language-ID model {path} not found: build it with `{SETUP_COMMAND}` "
                f"(or set model_path)."
            )
        default = normalize_language_tag(default_language)
        if default is None:
            raise ValueError(
                f"default_language must be an ISO 639-1 code, not {default_language!r}"
            )
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within [0, 1], not {min_confidence}")
        if not 0.0 <= served_prior <= MAX_SERVED_PRIOR:
            raise ValueError(
                f"served_prior must be within [0, {MAX_SERVED_PRIOR}], not {served_prior}"
            )
        self.supported_languages = _language_codes("supported_languages", supported_languages)
        self.expected_languages = _language_codes("expected_languages", expected_languages)
        self.default_language = default
        self.min_confidence = min_confidence
        self.min_chars = int(min_chars)
        self.top_k = int(top_k)

        self._fasttext = FastTextModel(path)
        self._langid = LangidModel()
        self._space = CodeSpace([self._fasttext.labels, self._langid.labels])
        self._fasttext_codes = self._space.indices(self._fasttext.labels)
        self._langid_codes = self._space.indices(self._langid.labels)
        # Codes langid.py has no class for: there it abstains and fastText votes alone.
        self._langid_abstains = np.isin(
            np.arange(len(self._space.codes)), self._langid_codes, invert=True
        )
        # What each code is reported as: a macrolanguage pool as its served member.
        served = {macro: self._served_member(members)
                  for macro, members in MACROLANGUAGE_MEMBERS.items()}  # fmt: skip
        self.codes = [served.get(code, code) for code in self._space.codes]
        self._log_prior = served_prior * np.isin(self.codes, self._desk_languages)

    @property
    def _desk_languages(self) -> tuple[str, ...]:
        return self.supported_languages + self.expected_languages

    def _served_member(self, members: Sequence[str]) -> str:
        return next((m for m in members if m in self._desk_languages), members[0])

    def predict(self, text: str) -> LanguagePrediction:
        """What ``text`` says about its language on this desk (the served prior, no
        fallbacks)."""
        if not has_words(text):
            return LanguagePrediction({}, 0)
        cleaned, script = evidence_text(text, self.min_chars)
        letters = len(_LETTER.findall(cleaned))
        if script in SCRIPT_LANGUAGES:
            probabilities = {SCRIPT_LANGUAGES[script][0]: 1.0}
        else:
            probabilities = self._model_probabilities(cleaned)
        ranking = sorted(probabilities.items(), key=lambda item: -item[1])[: self.top_k]
        return LanguagePrediction(probabilities, letters, script, tuple(ranking))

    def _model_probabilities(self, text: str) -> dict[str, float]:
        fasttext_p = self._space.pool(self._fasttext.probabilities(text), self._fasttext_codes)
        langid_p = self._space.pool(self._langid.probabilities(text), self._langid_codes)
        langid_p = np.where(self._langid_abstains, fasttext_p, langid_p)
        combined = _softmax(
            FASTTEXT_WEIGHT * np.log(fasttext_p + _EPSILON)
            + (1 - FASTTEXT_WEIGHT) * np.log(langid_p + _EPSILON)
            + self._log_prior
        )
        return dict(zip(self.codes, combined.tolist()))

    def identify(self, text: str, hint: object = None, session: object = None) -> LanguageResult:
        """The language to treat ``text`` as, with the fallbacks for text that cannot decide.

        Args:
            text: the message.
            hint: a BCP-47 tag from the client (the browser's language), or None.
            session: the conversation's last confident language (ISO 639-1), or None.
        """
        prediction = self.predict(text)
        if prediction.code and self.decides(prediction):
            return self._result(prediction, prediction.code, "model")
        fallbacks: tuple[tuple[Source, str | None], ...] = (
            ("metadata", normalize_language_tag(hint)),
            ("session", normalize_language_tag(session)),
            ("default", self.default_language),
        )
        for source, code in fallbacks:
            if code and prediction.allows(code):
                return self._result(prediction, code, source)
        # The script rules out every fallback ("好的" with English as the default); text
        # without words never gets here, as it allows any language.
        assert prediction.code is not None
        return self._result(prediction, prediction.code, "model")

    def decides(self, prediction: LanguagePrediction) -> bool:
        """Whether the text is long and clear enough to override the context."""
        return prediction.letters >= self.min_chars and (
            prediction.confidence >= self.min_confidence
        )

    @staticmethod
    def _result(prediction: LanguagePrediction, code: str, source: Source) -> LanguageResult:
        return LanguageResult(code, prediction.probability(code), source, prediction.ranking)
