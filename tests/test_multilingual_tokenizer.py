"""MultilingualTokenizer and its core: word boundaries and exact offsets in every script."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from nlu_components.core.tokenization import tokenize
from nlu_components.multilingual_tokenizer import MultilingualTokenizer

MODEL = Path(__file__).resolve().parent.parent / "models" / "lid.176.ftz"

# (text, language, tokens) in many scripts; CJK and Thai fall back to characters unless the
# optional segmenters are installed, so those cases list only what holds either way.
EXPECTED = [
    ("Where's my order #A12-345? I can't find it!", "en",
     ["Where", "'s", "my", "order", "#", "A12", "-", "345", "?", "I", "ca", "n't", "find", "it",
      "!"]),
    ("Wo ist meine Bestellung? Z.B. Nr. 5", "de",
     ["Wo", "ist", "meine", "Bestellung", "?", "Z.B.", "Nr.", "5"]),
    ("l'ordine è arrivato rotto", "it", ["l'", "ordine", "è", "arrivato", "rotto"]),
    ("Хочу вернуть заказ №12345.", "ru", ["Хочу", "вернуть", "заказ", "№", "12345", "."]),
    ("Тапсырысым қайда?", "kk", ["Тапсырысым", "қайда", "?"]),  # no spaCy "kk": xx rules
    ("أين طلبي؟ رقم 12345", "ar", ["أين", "طلبي", "؟", "رقم", "12345"]),
    ("주문 번호 12345 배송 언제 와요?", "ko",
     ["주문", "번호", "12345", "배송", "언제", "와요", "?"]),
    ("Tôi muốn trả hàng", "vi", ["Tôi", "muốn", "trả", "hàng"]),
    ("我想买iPhone 15 Pro，订单号A12-345。", "zh",
     ["我", "想", "买", "iPhone", "15", "Pro", "，", "订", "单", "号", "A12", "-", "345", "。"]),
]  # fmt: skip

SCRIPTS = [
    *[(text, language) for text, language, _ in EXPECTED],
    ("今日は雨が降りますか？コーヒーを2杯ください", "ja"),
    ("สวัสดีครับ ผมอยากคืนสินค้า", "th"),
    ("Πού είναι η παραγγελία μου;", "el"),
    ("איפה ההזמנה שלי?", "he"),
    ("मेरा ऑर्डर कहाँ है?", "hi"),
    ("შეკვეთა სად არის?", "ka"),
    ("😀👍 ok!! e\u0301cole", "fr"),  # emoji, decomposed accent
    ("Mixed 中文 and English with ไทย", "en"),
]


def _tokens(text: str, language: str | None) -> list[Token]:
    message = Message(data={"text": text})
    if language:
        message.set("language", {"code": language, "confidence": 1.0, "source": "model"})
    MultilingualTokenizer({}).process([message])
    return message.get("text_tokens")


@pytest.mark.parametrize(("text", "language", "expected"), EXPECTED)
def test_word_boundaries(text: str, language: str, expected: list[str]) -> None:
    assert [t.text for t in _tokens(text, language)] == expected


@pytest.mark.parametrize(("text", "language"), SCRIPTS)
def test_offsets_are_exact_in_every_script(text: str, language: str) -> None:
    tokens = _tokens(text, language)
    assert len(tokens) > 1
    assert all(text[t.start : t.end] == t.text and t.text.strip() == t.text for t in tokens)
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)


def test_chinese_sentence_is_not_one_token() -> None:
    text = "我的订单什么时候到？"
    rasa_tokens = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).tokenize(
        Message(data={"text": text}), "text"
    )
    ours = _tokens(text, "zh")
    assert len(rasa_tokens) == 1  # what this tokenizer exists to fix
    assert [t.text for t in ours] == ["我", "的", "订", "单", "什", "么", "时", "候", "到", "？"]
    assert [(t.start, t.end) for t in ours] == [(i, i + 1) for i in range(len(text))]


@pytest.mark.skipif(
    importlib.util.find_spec("sudachipy") is not None, reason="SudachiPy segments into words"
)
def test_japanese_without_a_segmenter_is_split_into_characters() -> None:
    assert [t.text for t in _tokens("注文はどこ", "ja")] == ["注", "文", "は", "ど", "こ"]


@pytest.mark.skipif(
    importlib.util.find_spec("pythainlp") is not None, reason="PyThaiNLP segments into words"
)
def test_thai_characters_keep_their_vowel_signs() -> None:
    assert [t.text for t in _tokens("สวัสดี", "th")] == ["ส", "วั", "ส", "ดี"]


def test_message_without_language_uses_multilanguage_rules() -> None:
    assert [t.text for t in _tokens("Hello, 世界!", None)] == ["Hello", ",", "世", "界", "!"]


def test_whitespace_only_text_is_one_token() -> None:
    assert [(t.text, t.start, t.end) for t in _tokens("   ", "en")] == [("   ", 0, 3)]


def test_token_pattern_and_intent_splitting_work_as_in_rasa() -> None:
    tokenizer = MultilingualTokenizer({"token_pattern": r"[^_]+", "intent_tokenization_flag": True})
    message = Message(data={"text": "order_status please", "intent": "order_status"})
    tokenizer.process([message])
    assert [t.text for t in message.get("text_tokens")] == ["order", "status", "please"]
    assert [t.text for t in message.get("intent_tokens")] == ["order", "status"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["en", "de", "zh", "ja", "th", "ar", "kk", None]))
def test_spans_are_ordered_nonempty_and_exact(text: str, language: str | None) -> None:
    spans = tokenize(text, language)
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert end <= next_start
    assert all(start < end and not text[start:end].isspace() for start, end in spans)


@pytest.mark.skipif(not MODEL.is_file(), reason="models/lid.176.ftz missing")
def test_detector_then_tokenizer_as_in_the_pipeline() -> None:
    from nlu_components.language_detector import LanguageDetector

    messages = [
        Message(data={"text": "我想退货 iPhone 15", "metadata": {}}),
        Message(data={"text": "Quiero devolver mi pedido", "metadata": {}}),
    ]
    LanguageDetector({"model_path": str(MODEL)}).process(messages)
    MultilingualTokenizer({}).process(messages)
    assert [t.text for t in messages[0].get("text_tokens")] == [
        "我",
        "想",
        "退",
        "货",
        "iPhone",
        "15",
    ]
    assert [t.text for t in messages[1].get("text_tokens")] == [
        "Quiero",
        "devolver",
        "mi",
        "pedido",
    ]
