"""Hostile input through every lingodesk NLU component, as Rasa runs them.

A support bot in front of the public gets empty messages, pasted logs, control characters,
lone surrogates (JSON's ``"\\ud800"``), right-to-left overrides, emoji-only messages, every
script, and junk in the metadata its channels pass on. For every such message the pipeline
(LanguageDetector -> MultilingualTokenizer -> MultitaskTransformerNLU, the tiny encoder in
place of the real one, served the shipped way: ONNX int8) must raise nothing and produce a
parse Rasa can act on: a language, exact token offsets, an intent and sentiment from the
model's labels, entity spans inside the text. A 100,000-character message costs about what
a long sentence costs (the transformer reads ``max_chars`` characters, language ID 1,000).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from nlu_components.core.bio import tags_to_spans
from nlu_components.core.examples import SENTIMENT_LABELS
from nlu_components.core.settings import EncoderSettings
from nlu_components.language_detector import LanguageDetector
from nlu_components.multilingual_tokenizer import MultilingualTokenizer
from nlu_components.multitask_nlu import MultitaskTransformerNLU
from tests.conftest import REPO_ROOT
from tests.test_core_model import _examples, _model

LID_MODEL = REPO_ROOT / "models" / "lid.176.ftz"
pytestmark = pytest.mark.skipif(not LID_MODEL.is_file(), reason="run scripts/setup")

# One sample per writing system a customer might use, and the tricks people (and bots) play.
SCRIPTS = [
    "where is my order", "¿dónde está mi pedido?", "Где мой заказ?", "أين طلبي؟",
    "איפה ההזמנה שלי", "我的订单在哪里", "注文はどこですか", "주문이 어디 있어요", "คำสั่งซื้อ",
    "मेरा ऑर्डर कहाँ है", "আমার অর্ডার", "Πού είναι", "შეკვეთა", "պատվեր", "ትዕዛዜ",
    "ஆர்டர்", "ᠮᠣᠩᠭᠣᠯ", "𐌰𐌱𐌲", "ꦗꦮ", "ᏣᎳᎩ", "ⴰⵎⴰⵣⵉⵖ",
]  # fmt: skip
TRICKS = [
    "", " ", "\t\n\r ", "\u00a0\u2003\u3000", "\u202eLD-123456 redro ym si erehw\u202c",
    "\u200f\u200e\u2066\u2069\u061c", "\ud800", "a\udfffb", "\x00\x01\x1b[31mred\x7f",
    "😡" * 40, "👨‍👩‍👧‍👦🏳️‍🌈", "\ufeff\ufffe\uffff", "e\u0301\u0301\u0301" * 50,
    "𝕨𝕙𝕖𝕣𝕖 𝕚𝕤 𝕞𝕪 𝕠𝕣𝕕𝕖𝕣", "ＬＤ－１２３４５６", "LD-123456" * 500, "a" * 100_000,
    "ok " * 30_000, "\n" * 10_000,
]  # fmt: skip

hostile_text = st.one_of(
    st.sampled_from(TRICKS + SCRIPTS),
    # every code point, lone surrogates included
    st.text(st.characters(blacklist_categories=()), max_size=300),
    st.lists(st.sampled_from(SCRIPTS + TRICKS[:12]), max_size=6).map(" ".join),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(st.characters(blacklist_categories=()), max_size=40),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.lists(st.integers(), max_size=3),
)
hostile_metadata = st.one_of(
    junk,
    st.fixed_dictionaries(
        {},
        optional={
            "language_hint": st.one_of(junk, st.sampled_from(["de-DE", "zh-Hant-TW", "x-klingon"])),
            "session_language": st.one_of(junk, st.sampled_from(["de", "xx", "EN", ""])),
            "anything": junk,
        },
    ),
)


@pytest.fixture(scope="module")
def pipeline(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The shipped pipeline's lingodesk components, in config.yml's order."""
    model = _model(tiny_encoder_dir, backend="onnx-int8", epochs=3)
    model.fit(_examples())
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    context = ExecutionContext(GraphSchema({}), node_name="nlu")
    transformer = MultitaskTransformerNLU.create(
        {"model_name_or_path": str(tiny_encoder_dir)}, storage, Resource("nlu"), context
    )
    transformer.nlu = model
    return [
        LanguageDetector({"model_path": str(LID_MODEL), "supported_languages": ["en", "de"]}),
        MultilingualTokenizer({}),
        transformer,
    ]


def parse(pipeline: list[Any], text: str, metadata: Any = None) -> Message:
    message = Message(data={TEXT: text, METADATA: metadata})
    for component in pipeline:
        component.process([message])
    return message


def assert_sensible(message: Message, text: str, intents: set[str]) -> None:
    """What Rasa and lingodesk's actions read from a parse, checked as a user would."""
    language = message.get("language")
    assert language["source"] in {"model", "session", "metadata", "default"}
    assert language["code"].isalpha() and language["code"].islower()
    assert 0.0 <= language["confidence"] <= 1.0
    for token in message.get(TOKENS_NAMES[TEXT]):
        assert text[token.start : token.end] == token.text and token.end > token.start
    intent = message.get(INTENT)
    assert intent["name"] in intents and 0.0 <= intent["confidence"] <= 1.0
    confidences = [i["confidence"] for i in message.get(INTENT_RANKING_KEY)]
    assert confidences == sorted(confidences, reverse=True)
    sentiment = message.get("sentiment")
    assert sentiment["label"] in SENTIMENT_LABELS
    assert sum(sentiment["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    for entity in message.get(ENTITIES):
        assert 0 <= entity["start"] < entity["end"] <= len(text)
        assert entity["value"] == text[entity["start"] : entity["end"]]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=hostile_text, metadata=hostile_metadata)
def test_any_message_gets_a_sensible_parse(pipeline: list[Any], text: str, metadata: Any) -> None:
    intents = set(pipeline[-1].nlu.labels.intents)
    assert_sensible(parse(pipeline, text, metadata), text, intents)


@pytest.mark.parametrize("text", TRICKS + SCRIPTS, ids=range(len(TRICKS + SCRIPTS)))
def test_every_trick_and_script_gets_a_sensible_parse(pipeline: list[Any], text: str) -> None:
    intents = set(pipeline[-1].nlu.labels.intents)
    assert_sensible(parse(pipeline, text, {"language_hint": "\udcff\x00"}), text, intents)


def test_a_rasa_batch_mixing_junk_and_real_messages_parses_each_alone(pipeline: list[Any]) -> None:
    """Rasa hands components lists: junk next to a customer must not change her parse (beyond
    the rounding of a padded int8 batch)."""
    alone = parse(pipeline, "where is my order LD-123456")
    batch = [Message(data={TEXT: text}) for text in ["\ud800", "where is my order LD-123456", ""]]
    for component in pipeline:
        component.process(batch)
    assert batch[1].get(INTENT)["name"] == alone.get(INTENT)["name"]
    assert batch[1].get(INTENT)["confidence"] == pytest.approx(
        alone.get(INTENT)["confidence"], abs=0.02
    )
    assert batch[1].get("language") == alone.get("language")


def _best_of_three(pipeline: list[Any], text: str) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        parse(pipeline, text)
        times.append(time.perf_counter() - start)
    return min(times)


def test_a_100k_character_message_costs_what_a_long_sentence_costs(pipeline: list[Any]) -> None:
    transformer = pipeline[-1]
    cap = EncoderSettings().max_chars
    long_sentence = ("where is my order LD-123456 " * 200)[:cap]
    huge = "where is my order LD-123456 " * 4_000  # 112,000 characters
    # The transformer alone: capped at max_chars before tokenizing.
    assert (
        _best_of_three([transformer], huge)
        < 3 * _best_of_three([transformer], long_sentence) + 0.05
    )
    # The whole lingodesk pipeline (the word tokenizer reads everything: linear, fast).
    assert _best_of_three(pipeline, huge) < 2.0


def test_the_entity_decoder_keeps_spans_inside_the_words() -> None:
    words_and_tags = st.lists(
        st.tuples(
            st.integers(0, 5),
            st.integers(1, 5),
            st.one_of(
                st.sampled_from(["O", "B-order_number", "I-order_number", "I-colour", "B-x@to#1"]),
                st.text(max_size=8),  # whatever a corrupt label map could hold
            ),
            st.floats(0, 1),
        ),
        max_size=30,
    )

    @settings(max_examples=300, deadline=None)
    @given(words_and_tags)
    def decode(rows: list[tuple[int, int, str, float]]) -> None:
        words, position = [], 0
        for gap, length, _, _ in rows:
            words.append((position + gap, position + gap + length))
            position += gap + length
        spans = tags_to_spans(words, [r[2] for r in rows], [r[3] for r in rows])
        starts, ends = {w[0] for w in words}, {w[1] for w in words}
        for span in spans:
            assert span.start in starts and span.end in ends and span.start < span.end
            assert 0.0 <= span.confidence <= 1.0
        assert [s.start for s in spans] == sorted(s.start for s in spans)

    decode()
