"""The signals head inside Rasa (#17): MultitaskTransformerNLU learns anger, wants_human and
threat from the training data's example metadata and writes `anger: {score, level}` and
`signals: {wants_human, threat}` into the parse result, where the routing policy reads them;
a project without such labels gets neither key (the policy then reads the sentiment)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message

from handoff.turns import Turn
from nlu_components.multitask_nlu import MultitaskTransformerNLU

LABELLED = """
version: "3.1"
nlu:
- intent: order_status
  examples:
  - text: where is my order
    metadata: {sentiment: neutral}
  - text: wo ist meine Bestellung
    metadata: {sentiment: neutral}
  - text: my parcel is late
    metadata: {sentiment: negative, anger: calm}
- intent: complaint
  examples:
  - text: THIS IS A DISGRACE, third time I write!!!
    metadata: {sentiment: negative, anger: angry}
  - text: das ist eine Frechheit!!! niemand hilft mir
    metadata: {sentiment: negative, anger: angry}
  - text: I will call my lawyer and my bank
    metadata: {sentiment: negative, anger: angry, threat: true}
  - text: this is useless, get me a real person
    metadata: {sentiment: negative, anger: frustrated, wants_human: true}
- intent: request_human
  examples:
  - text: can I talk to a person please
    metadata: {sentiment: neutral}
"""
UNLABELLED = """
version: "3.1"
nlu:
- intent: order_status
  examples: |
    - where is my order
    - wo ist meine Bestellung
- intent: complaint
  examples: |
    - this is a disgrace
    - das ist eine Frechheit
"""


def _trained(tiny_encoder_dir: Path, tmp_path: Path, data: str) -> MultitaskTransformerNLU:
    config = {
        **MultitaskTransformerNLU.get_default_config(),
        "model_name_or_path": str(tiny_encoder_dir),
        "text_prefix": "",
        "epochs": 40,
        "batch_size": 4,
        "learning_rate": 1e-2,
        "head_learning_rate": 0.1,
        "label_smoothing": 0.0,
        "serving_backend": "torch",
    }
    component = MultitaskTransformerNLU.create(
        config,
        LocalModelStorage(tmp_path),
        Resource("nlu"),
        ExecutionContext(GraphSchema({}), node_name="nlu"),
    )
    component.train(RasaYAMLReader().reads(data))
    return component


def _parse(component: MultitaskTransformerNLU, text: str) -> dict:
    message = Message(data={TEXT: text})
    component.process([message])
    return message.as_dict(only_output_properties=True)


def test_labelled_data_gives_anger_and_signals_the_policy_reads(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    component = _trained(tiny_encoder_dir, tmp_path, LABELLED)
    assert component.nlu.labels.signals == ["anger", "wants_human", "threat"]
    angry = _parse(component, "THIS IS A DISGRACE, third time I write!!!")
    calm = _parse(component, "where is my order")
    assert angry["anger"]["level"] in {"frustrated", "angry"} and calm["anger"]["level"] == "calm"
    assert angry["anger"]["score"] > calm["anger"]["score"]
    assert set(angry["signals"]) == {"wants_human", "threat"}
    request = _parse(component, "can I talk to a person please")
    assert request["signals"]["wants_human"] > calm["signals"]["wants_human"]
    turn = Turn.from_parse(angry)
    assert turn.anger == pytest.approx(angry["anger"]["score"])
    assert turn.signals == angry["signals"]


def test_a_project_without_signal_labels_gets_no_signal_keys(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    component = _trained(tiny_encoder_dir, tmp_path, UNLABELLED)
    assert component.nlu.labels.signals == []
    parse = _parse(component, "das ist eine Frechheit")
    assert "anger" not in parse and "signals" not in parse
    assert Turn.from_parse(parse).anger is None


def test_an_unknown_anger_label_is_a_clear_error(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    bad = LABELLED.replace("anger: calm", "anger: livid")
    with pytest.raises(ValueError, match="anger must be one of"):
        _trained(tiny_encoder_dir, tmp_path, bad)
