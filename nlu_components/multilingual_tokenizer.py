"""Rasa tokenizer that splits each message by the rules of its detected language."""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from nlu_components.core.tokenization import FALLBACK_LANGUAGE, tokenize
from nlu_components.language_detector import LANGUAGE


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class MultilingualTokenizer(Tokenizer):
    """spaCy's rule-based tokenizer for each message's ``language`` (set by LanguageDetector).

    Unlike Rasa's WhitespaceTokenizer it gives Chinese, Japanese and Thai one token per word
    or character instead of one per sentence (see :mod:`nlu_components.core.tokenization`),
    with exact character offsets, so entity spans line up in any script. Messages without a
    detected language use ``default_language``.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Every option config.yml can set, with its default (Rasa's tokenizer options)."""
        return {
            # Split intent names into tokens on `intent_split_symbol`.
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            # A regex further splitting each token (None: keep spaCy's tokens).
            "token_pattern": None,
            # Symbol that splits intent names into a prefix and suffix (None: no split).
            "prefix_separator_symbol": None,
            # Rules for messages without a detected language ("xx": spaCy's multi-language).
            "default_language": FALLBACK_LANGUAGE,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__({**self.get_default_config(), **config})
        self._default_language = self._config["default_language"]

    @staticmethod
    def required_packages() -> list[str]:
        return ["spacy"]

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Tokens of the message's ``attribute`` in its detected language."""
        text = message.get(attribute)
        detected = message.get(LANGUAGE)
        language = detected.get("code") if isinstance(detected, dict) else None
        tokens = [
            Token(text[span.start : span.end], span.start, span.end)
            for span in tokenize(text, language or self._default_language)
        ]
        if not tokens and text:
            # Whitespace only: one token rather than none, as Rasa's WhitespaceTokenizer, since
            # featurizers expect at least one.
            tokens = [Token(text, 0)]
        return self._apply_token_pattern(tokens)
