"""Rasa component that sets ``language`` on every message (fastText lid.176 + fallbacks)."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import METADATA, METADATA_EXAMPLE, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.core.language_id import (
    SERVED_PRIOR,
    LanguageIdentifier,
    normalize_language_tag,
)

LANGUAGE = "language"
HINT_KEY = "language_hint"
SESSION_KEY = "session_language"
# Where clients put the customer's language in a message's metadata, first found wins:
# lingodesk's widget (`language_hint`), a plain `language`, and rasa-webchat's `customData`.
HINT_PATHS = ((HINT_KEY,), ("language",), ("customData", "language"))


# A featurizer in the recipe's terms, like Rasa's SpacyNLP: it adds to each message what the
# tokenizer after it reads, and it runs over the training data as well as at inference.
@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class LanguageDetector(GraphComponent):
    """Sets ``language`` = ``{code, confidence, source, ranking}`` on every message.

    Put it first in the pipeline: the tokenizer picks its rules by this language.

    Message metadata it reads (docs/architecture.md):

    - ``language_hint``, ``language`` or ``customData.language`` (rasa-webchat's page data): a
      BCP-47 tag the client sends (the widget: the browser's or page's language), e.g.
      ``"de-DE"``, validated like any tag; ``source`` is ``"metadata"`` when it decides.
    - ``session_language``: the conversation's last confident language. A component cannot
      see the tracker, so lingodesk's channels copy the tracker's ``language`` slot into each
      incoming message's metadata; ``source`` is ``"session"`` when it decides. The slot
      should only take codes whose ``source`` is ``"model"``.

    Text that is short (``min_chars``) or not confident (``min_confidence``), or has no words
    at all (digits, URLs, e-mails, emoji), falls back to the hint, then the session language,
    then ``default_language``, skipping any the text's script rules out. Training examples
    go the same way; a data file can pin its examples' language with ``language_hint`` in an
    intent's or example's metadata, which matters for one-word examples only.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Every option config.yml can set, with its default."""
        return {
            # fastText lid.176.ftz, relative to where Rasa runs (built by the set-up).
            "model_path": "models/lid.176.ftz",
            # The bot's languages (ISO 639-1). They pick the reported member of a
            # macrolanguage the models cannot split (sr/hr/bs, id/ms, no/nn); detection is
            # never restricted to them: routing needs unserved languages too.
            "supported_languages": [],
            # Languages the bot does not answer in but a team of agents reads (routing.yml's
            # `queues.languages`): they share the supported languages' prior.
            "expected_languages": [],
            # Log-odds in favour of each supported and expected language on text that could
            # be several (two words of Portuguese read as Galician); 0 turns it off.
            # docs/language-id.md.
            "served_prior": SERVED_PRIOR,
            # Below this probability the text does not override the context.
            "min_confidence": 0.5,
            # Text with fewer letters does not override the context ("ok", "thx").
            "min_chars": 4,
            # The last fallback.
            "default_language": "en",
            # Length of `ranking`.
            "top_k": 3,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        config = {**self.get_default_config(), **config}
        self._identifier = LanguageIdentifier(
            config["model_path"],
            supported_languages=config["supported_languages"],
            expected_languages=config["expected_languages"],
            min_confidence=config["min_confidence"],
            min_chars=config["min_chars"],
            default_language=config["default_language"],
            top_k=config["top_k"],
            served_prior=config["served_prior"],
        )

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        """Loads the language-ID models; a missing model file fails here, naming the fix."""
        return cls(config)

    @staticmethod
    def required_packages() -> list[str]:
        # Rasa fingerprints these by distribution name, which for fastText ("fasttext-numpy2")
        # differs from its module name: its import fails at load time instead.
        return ["py3langid"]

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets ``language`` on each user message."""
        for message in messages:
            self._set_language(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Sets ``language`` on each training example, as on user messages."""
        for example in training_data.training_examples:
            self._set_language(example)
        return training_data

    def _set_language(self, message: Message) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str):  # intent-only examples, end-to-end action texts
            return
        metadata = _metadata(message)
        result = self._identifier.identify(
            text, hint=language_hint(metadata), session=metadata.get(SESSION_KEY)
        )
        message.set(LANGUAGE, result.as_dict(), add_to_output=True)


def language_hint(metadata: dict[str, Any]) -> str | None:
    """The first valid language tag a client put in the metadata (`HINT_PATHS`)."""
    for path in HINT_PATHS:
        value: Any = metadata
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if normalize_language_tag(value):
            return value
    return None


def _metadata(message: Message) -> dict[str, Any]:
    """A user message's metadata; for a training example, its own and its intent's too."""
    metadata = message.get(METADATA)
    if not isinstance(metadata, dict):
        return {}
    merged = dict(metadata)
    for key in (METADATA_INTENT, METADATA_EXAMPLE):  # where Rasa nests training metadata
        if isinstance(metadata.get(key), dict):
            merged.update(metadata[key])
    return merged
