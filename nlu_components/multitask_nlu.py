"""MultitaskTransformerNLU: intent, sentiment and entities from one LoRA-tuned transformer.

A thin Rasa adapter over :class:`nlu_components.core.nlu.MultitaskNLU`: it turns Rasa
training data into core examples, persists through Rasa's model storage, and writes the core's
predictions into the parse result. All machine learning lives in the core.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_GROUP,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    METADATA,
    METADATA_EXAMPLE,
    METADATA_INTENT,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.core.examples import (
    ANGER,
    ANGER_LEVELS,
    ANGER_THRESHOLDS,
    SENTIMENT_LABELS,
    EntitySpan,
    Example,
    NLUPrediction,
    anger_level,
)
from nlu_components.core.settings import flat_defaults, from_flat_config
from nlu_components.language_detector import LANGUAGE

logger = logging.getLogger(__name__)

SENTIMENT = "sentiment"
SIGNALS = "signals"
# Example metadata the signals head learns from (data/README.md): `anger: calm|frustrated|
# angry`, `wants_human: true`, `threat: true`.
WANTS_HUMAN, THREAT = "wants_human", "threat"


class ModelLoadError(RuntimeError):
    """The trained model cannot be served (``fail_on_load_error``); the message says why."""


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    ],
    is_trainable=True,
)
class MultitaskTransformerNLU(GraphComponent, IntentClassifier, EntityExtractorMixin):
    """Fine-tunes a multilingual encoder with LoRA for intent, sentiment and entities at once."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Every option, with its default (documented in nlu_components/core/settings.py)."""
        return {
            **flat_defaults(),
            # Intents and sentiment ranking cut for the parse result.
            "ranking_length": 10,
            # Sentiment for training examples whose metadata has none, per intent
            # (e.g. {"complaint": "negative"}); examples with neither are masked out.
            "sentiment_by_intent": {},
            # A trained model that cannot be loaded (missing or corrupt files, another
            # encoder) stops the model from loading, so the server does not start half-blind
            # (`lingodesk run` refuses to run without a model). false: log a warning and serve
            # messages without intent, entities and sentiment from this component.
            "fail_on_load_error": True,
            # An entity overlapping one that an earlier extractor of the pipeline already
            # found (RegexEntityExtractor's exact order-number pattern) is left out, so the
            # parse result never lists one span twice. false: both are listed.
            "defer_to_earlier_extractors": True,
            # Intents that ask for a person: their examples teach the wants_human signal
            # (an example's `wants_human: true` teaches it for any intent).
            "wants_human_intents": ["request_human"],
            # Calibrated anger intensity (0..1) from which the parse result's anger level is
            # "frustrated" / "angry" (below: "calm").
            "anger_levels": dict(ANGER_THRESHOLDS),
        }

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
        nlu: Any = None,
    ) -> None:
        self.component_config = {**self.get_default_config(), **config}
        # `name` is EntityExtractorMixin's: the class name, written as each entity's extractor.
        self.node_name = name
        self._model_storage = model_storage
        self._resource = resource
        self._validate_config()
        self.nlu = nlu  # a trained MultitaskNLU, or None

    def _validate_config(self) -> None:
        unknown = {
            label
            for label in self.component_config["sentiment_by_intent"].values()
            if label not in SENTIMENT_LABELS
        }
        if unknown:
            raise ValueError(
                f"{self.name}: sentiment_by_intent uses {sorted(unknown)}; "
                f"allowed: {list(SENTIMENT_LABELS)}"
            )
        from_flat_config(self.component_config)  # fails early on ill-typed settings

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MultitaskTransformerNLU:
        return cls(config, execution_context.node_name, model_storage, resource)

    # -- training -----------------------------------------------------------------------------
    def _example(self, message: Message, learned: frozenset[str] = frozenset()) -> Example:
        text = message.get(TEXT)
        intent = message.get(INTENT)
        metadata = message.get(METADATA) or {}
        annotations = metadata.get(METADATA_EXAMPLE) or {}
        sentiment = (
            annotations.get(SENTIMENT)
            or (metadata.get(METADATA_INTENT) or {}).get(SENTIMENT)
            or self.component_config["sentiment_by_intent"].get(intent)
        )
        entities = [
            EntitySpan(
                e[ENTITY_ATTRIBUTE_START],
                e[ENTITY_ATTRIBUTE_END],
                e[ENTITY_ATTRIBUTE_TYPE],
                e.get(ENTITY_ATTRIBUTE_ROLE),
                e.get(ENTITY_ATTRIBUTE_GROUP),
            )
            for e in message.get(ENTITIES) or []
        ]
        return Example(
            text=text,
            words=_word_spans(message),
            intent=intent,
            sentiment=sentiment,
            entities=entities,
            signals=self._signal_targets(annotations, intent, sentiment, learned),
            language=_language_code(message),
        )

    def _signal_targets(
        self,
        annotations: dict[str, Any],
        intent: str | None,
        sentiment: str | None,
        learned: frozenset[str],
    ) -> dict[str, float]:
        """The example's targets for the signals the training data teaches (``learned``).

        A message that is not negative is calm; a negative one without an `anger` label is
        unknown (masked). wants_human: the example's flag, else whether its intent asks for
        a person. threat: the example's flag, else none.
        """  # fmt: skip
        targets: dict[str, float] = {}
        level = annotations.get(ANGER)
        if ANGER in learned and level is not None:
            if level not in ANGER_LEVELS:
                raise ValueError(
                    f"{self.name}: anger must be one of {list(ANGER_LEVELS)}: {level!r}"
                )
            targets[ANGER] = ANGER_LEVELS[level]
        elif ANGER in learned and sentiment in ("neutral", "positive"):
            targets[ANGER] = 0.0
        if WANTS_HUMAN in learned:
            wants = annotations.get(WANTS_HUMAN)
            if wants is None:
                wants = intent in self.component_config["wants_human_intents"]
            targets[WANTS_HUMAN] = float(bool(wants))
        if THREAT in learned:
            targets[THREAT] = float(bool(annotations.get(THREAT)))
        return targets

    def _learned_signals(self, messages: list[Message]) -> frozenset[str]:
        """The signals this training data annotates: a project without any anger label gets
        no anger signal (the routing then reads its sentiment), and so on."""
        annotations = [
            (m.get(METADATA) or {}).get(METADATA_EXAMPLE) or {} for m in messages
        ]  # fmt: skip
        learned = {
            name for name in (ANGER, WANTS_HUMAN, THREAT) if any(name in a for a in annotations)
        }
        if any(m.get(INTENT) in self.component_config["wants_human_intents"] for m in messages):
            learned.add(WANTS_HUMAN)
        return frozenset(learned)

    def train(self, training_data: TrainingData) -> Resource:
        """Fine-tune on every example with an intent, then persist adapters and heads."""
        from nlu_components.core.nlu import MultitaskNLU

        messages = [m for m in training_data.intent_examples if m.get(TEXT)]
        learned = self._learned_signals(messages)
        examples = [self._example(message, learned) for message in messages]
        if not examples:
            logger.warning("%s: no intent examples; nothing trained.", self.name)
            return self._resource
        missing = sum(e.sentiment is None for e in examples)
        if missing:
            logger.info(
                "%s: %d of %d examples have no sentiment label; masked out of that task.",
                self.name,
                missing,
                len(examples),
            )
        encoder, lora, training, serving = from_flat_config(self.component_config)
        self.nlu = MultitaskNLU(encoder, lora, training, serving)
        self.nlu.fit(examples)
        self.persist()
        return self._resource

    def persist(self) -> None:
        if self.nlu is None or not self.nlu.is_trained:
            return
        with self._model_storage.write_to(self._resource) as directory:
            self.nlu.save(directory)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> MultitaskTransformerNLU:
        """Load the trained model. On failure: raise :class:`ModelLoadError` (default), or
        warn and serve without annotations (``fail_on_load_error: false``)."""
        from nlu_components.core.nlu import MultitaskNLU

        component = cls(config, execution_context.node_name, model_storage, resource)
        _, _, _, serving = from_flat_config(component.component_config)
        try:
            with model_storage.read_from(resource) as directory:
                nlu = MultitaskNLU.load(directory, serving)
                nlu.predictor  # noqa: B018 - build the serving path now, not on the first message
        except Exception as error:  # whatever broke, the answer is the same: retrain
            if component.component_config["fail_on_load_error"]:
                raise ModelLoadError(
                    f"{component.name}: cannot load the trained model "
                    f"({type(error).__name__}: {error}). Retrain (`lingodesk train --force`), "
                    "or set fail_on_load_error: false to serve without this component."
                ) from error
            logger.warning(
                "%s: could not load the trained model (%s: %s). Messages will get no intent, "
                "entities or sentiment from it until the model is retrained.",
                component.name,
                type(error).__name__,
                error,
            )
            return component
        component.nlu = nlu
        return component

    # -- inference ----------------------------------------------------------------------------
    def process(self, messages: list[Message]) -> list[Message]:
        """Annotate a batch of messages with one batched forward pass."""
        if self.nlu is None:
            return messages
        texts = [message.get(TEXT) or "" for message in messages]
        predictions = self.nlu.predict(
            texts, [_word_spans(m) for m in messages], [_language_code(m) for m in messages]
        )
        for message, text, prediction in zip(messages, texts, predictions):
            self._annotate(message, text, prediction)
        return messages

    def _annotate(self, message: Message, text: str, prediction: NLUPrediction) -> None:
        length = self.component_config["ranking_length"]
        ranking = [
            {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
            for name, confidence in prediction.intent_ranking[:length]
        ]
        message.set(INTENT, ranking[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        message.set(
            SENTIMENT,
            {
                "label": prediction.sentiment,
                "confidence": prediction.sentiment_scores[prediction.sentiment],
                "scores": prediction.sentiment_scores,
            },
            add_to_output=True,
        )
        self._annotate_signals(message, prediction)
        earlier = message.get(ENTITIES) or []
        entities = []
        for span in prediction.entities:
            if self.component_config["defer_to_earlier_extractors"] and _overlaps(span, earlier):
                continue
            entity = {
                ENTITY_ATTRIBUTE_START: span.start,
                ENTITY_ATTRIBUTE_END: span.end,
                ENTITY_ATTRIBUTE_VALUE: text[span.start : span.end],
                ENTITY_ATTRIBUTE_TYPE: span.entity,
                "confidence_entity": span.confidence,
            }
            if span.role:
                entity[ENTITY_ATTRIBUTE_ROLE] = span.role
            if span.group:
                entity[ENTITY_ATTRIBUTE_GROUP] = span.group
            entities.append(entity)
        entities = self.add_extractor_name(entities)
        message.set(ENTITIES, earlier + entities, add_to_output=True)

    def _annotate_signals(self, message: Message, prediction: NLUPrediction) -> None:
        """`anger: {score, level, uncalibrated}` and `signals: {wants_human, threat}`, what the
        routing policy reads (handoff/turns.py); nothing for a model trained without them.
        ``score`` is calibrated for the message's language (nlu_components/core/calibration.py);
        ``uncalibrated`` is the head's own."""
        signals = prediction.signals
        if ANGER in signals:
            score = signals[ANGER]
            level = anger_level(score, self.component_config["anger_levels"])
            anger = {"score": score, "level": level, "uncalibrated": prediction.uncalibrated_anger}
            message.set(ANGER, anger, add_to_output=True)
        others = {name: value for name, value in signals.items() if name != ANGER}
        if others:
            message.set(SIGNALS, others, add_to_output=True)


def _overlaps(span: EntitySpan, entities: list[dict[str, Any]]) -> bool:
    return any(
        span.start < other[ENTITY_ATTRIBUTE_END] and other[ENTITY_ATTRIBUTE_START] < span.end
        for other in entities
        if ENTITY_ATTRIBUTE_START in other and ENTITY_ATTRIBUTE_END in other
    )


def _language_code(message: Message) -> str | None:
    """The language the LanguageDetector set on the message, if it ran."""
    language = message.get(LANGUAGE)
    return language.get("code") if isinstance(language, dict) else None


def _word_spans(message: Message) -> list[tuple[int, int]]:
    """Word boundaries from the pipeline's tokenizer (so `rasa test` scores entities on the
    same words), or whitespace words when no tokenizer ran."""
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    if tokens:
        return [(token.start, token.end) for token in tokens]
    return Example(message.get(TEXT) or "").words
