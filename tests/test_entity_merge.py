"""A parse never lists one entity span twice (#17): Rasa's RegexEntityExtractor finds the order
number by its exact pattern, and the transformer, running after it in config.yml, must not add
its own order_number (or any other label) over the same characters."""

from __future__ import annotations

from pathlib import Path

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.extractors.regex_entity_extractor import RegexEntityExtractor
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message

from nlu_components.core.examples import EntitySpan, NLUPrediction
from nlu_components.multitask_nlu import MultitaskTransformerNLU

TEXT_DE = "Wo ist meine Bestellung LD-482913? Sie sollte nach Berlin gehen."
ORDER = (TEXT_DE.index("LD-482913"), TEXT_DE.index("LD-482913") + len("LD-482913"))
NLU_DATA = """
version: "3.1"
nlu:
- regex: order_number
  examples: |
    - LD-?\\d{6}
- intent: order_status
  examples: |
    - where is order [LD-123456](order_number)
"""
CITY = (TEXT_DE.index("Berlin"), TEXT_DE.index("Berlin") + len("Berlin"))


class FixedPrediction:
    """The trained model's answer for TEXT_DE: the order number (as the transformer tags it,
    with the '?' glued to it) and the city."""

    def predict(
        self,
        texts: list[str],
        words: list[list[tuple[int, int]]],
        languages: list[str | None],
    ) -> list[NLUPrediction]:
        spans = [
            EntitySpan(ORDER[0], ORDER[1] + 1, "order_number", confidence=0.93),
            EntitySpan(*CITY, "city", confidence=0.88),
        ]
        return [
            NLUPrediction(
                intent_ranking=[("order_status", 0.9)],
                sentiment="neutral",
                sentiment_scores={"negative": 0.1, "neutral": 0.8, "positive": 0.1},
                entities=spans,
            )
            for _ in texts
        ]


def _components(
    tmp_path: Path, config: dict
) -> tuple[RegexEntityExtractor, MultitaskTransformerNLU]:
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), node_name="nlu")
    regex = RegexEntityExtractor.create(
        {**RegexEntityExtractor.get_default_config(), "use_lookup_tables": False},
        storage,
        Resource("regex"),
        context,
    )
    regex.train(RasaYAMLReader().reads(NLU_DATA))
    transformer = MultitaskTransformerNLU.create(
        {**MultitaskTransformerNLU.get_default_config(), **config},
        storage,
        Resource("nlu"),
        context,
    )
    transformer.nlu = FixedPrediction()
    return regex, transformer


def _parse(tmp_path: Path, config: dict) -> list[dict]:
    message = Message(data={TEXT: TEXT_DE})
    for component in _components(tmp_path, config):
        component.process([message])
    return message.get(ENTITIES)


def test_the_order_number_is_listed_once_by_the_regex_and_the_city_by_the_transformer(
    tmp_path: Path,
) -> None:
    entities = _parse(tmp_path, {})
    assert [(e["entity"], e["value"], e["extractor"]) for e in entities] == [
        ("order_number", "LD-482913", "RegexEntityExtractor"),
        ("city", "Berlin", "MultitaskTransformerNLU"),
    ]
    spans = [(e["start"], e["end"]) for e in entities]
    assert all(a[1] <= b[0] or b[1] <= a[0] for i, a in enumerate(spans) for b in spans[i + 1 :])


def test_both_extractors_are_listed_when_deferring_is_switched_off(tmp_path: Path) -> None:
    entities = _parse(tmp_path, {"defer_to_earlier_extractors": False})
    assert [e["entity"] for e in entities] == ["order_number", "order_number", "city"]
