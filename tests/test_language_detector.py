"""LanguageDetector and its core on hand-written chat messages, short ones above all."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.config import RoutingConfig
from handoff.config_loader import load_config
from handoff.conversation import analyse
from handoff.policy import language_evidence
from handoff.turns import Turn
from nlu_components.core import language_models
from nlu_components.core.language_id import (
    MAX_INPUT_CHARS,
    SETUP_COMMAND,
    LanguageIdentifier,
    has_words,
    normalize_language_tag,
)
from nlu_components.language_detector import language_hint

MODEL = Path(__file__).resolve().parent.parent / "models" / "lid.176.ftz"
pytestmark = [
    pytest.mark.skipif(not MODEL.is_file(), reason=f"{MODEL} missing: run `{SETUP_COMMAND}`"),
    pytest.mark.skipif(
        importlib.util.find_spec("py3langid") is None,
        reason="py3langid missing: pip install --no-deps py3langid==0.4.0",
    ),
]

SERVED = ["en", "es", "de", "fr", "pt", "zh", "ja", "ar"]


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier(MODEL, supported_languages=SERVED, default_language="en")


# Messages long and clear enough to decide alone, whatever the context says.
CONFIDENT = [
    ("Where is my order?", "en"),
    ("Wo ist meine Bestellung?", "de"),
    ("¿Dónde está mi pedido?", "es"),
    ("Je veux retourner ma commande", "fr"),
    ("Quero cancelar o meu pedido", "pt"),
    ("Il pacco è arrivato rotto", "it"),
    ("Mijn bestelling is nog niet aangekomen", "nl"),
    ("Siparişim hâlâ gelmedi", "tr"),
    ("Chcę zwrócić zamówienie", "pl"),
    ("Где мой заказ?", "ru"),
    ("أين طلبي؟", "ar"),
    ("我的订单在哪里？", "zh"),
    ("注文はどこですか？", "ja"),
    ("주문이 어디 있어요?", "ko"),
    ("Pesanan saya belum sampai", "id"),  # Malay pool, reported as its most written member
    ("Gdje je moja pošiljka?", "sr"),  # Serbo-Croatian pool, none of it served
    ("Kur yra mano užsakymas?", "lt"),
    ("Менің тапсырысым қайда?", "kk"),
    ("Πού είναι η παραγγελία μου;", "el"),
    ("คำสั่งซื้อของฉันอยู่ที่ไหน", "th"),
    ("Var är min beställning?", "sv"),
    ("gracias!", "es"),
    ("спасибо", "ru"),
    # ALL CAPS
    ("WO IST MEINE BESTELLUNG", "de"),
    ("MI PEDIDO NO HA LLEGADO", "es"),
    # mixed scripts: Latin product names inside other scripts
    ("我想退货 iPhone 15 Pro Max", "zh"),
    ("iPhone 15のケースを返品したい", "ja"),
    ("Мой заказ Nike Air Zoom не пришёл", "ru"),
    ("Die Lieferung von Amazon Prime Video kam nicht", "de"),
    # order numbers and leetspeak codes inside a sentence carry no vote
    ("Mon colis n'est pas arrivé, commande FR-2024-88812", "fr"),
    ("Grazie, ordine n. 12345 ricevuto", "it"),
]


@pytest.mark.parametrize(("text", "code"), CONFIDENT)
def test_confident_text_decides_over_hint_and_session(
    identifier: LanguageIdentifier, text: str, code: str
) -> None:
    other = "ja" if code != "ja" else "de"
    result = identifier.identify(text, hint=f"{other}-XX", session=other)
    assert (result.code, result.source) == (code, "model")
    assert result.confidence >= identifier.min_confidence
    assert result.ranking[0][0] == code


# (text, language_hint, session_language, expected code, expected source)
FALLBACKS = [
    # too short: hint, then session, then default
    ("ok", None, "de", "de", "session"),
    ("ok", None, None, "en", "default"),
    ("hallo", "de-DE", None, "de", "metadata"),
    ("hallo", None, "nl", "nl", "session"),
    ("hallo", "de-DE", "nl", "de", "metadata"),
    ("merci", "fr-FR", None, "fr", "metadata"),
    ("tak", None, "da", "da", "session"),
    ("ok", None, "ja", "ja", "session"),  # anyone types "ok" in Latin letters
    # no words at all: never overrides the conversation's language
    ("12345", None, "fr", "fr", "session"),
    ("#A12-99X", None, "pt", "pt", "session"),
    ("0RD3R 4B12-77", None, "it", "it", "session"),
    ("👍👍", None, "ja", "ja", "session"),
    ("https://shop.example.com/orders/123", None, "it", "it", "session"),
    ("max.mustermann@example.de", None, "de", "de", "session"),
    ("?!", None, None, "en", "default"),
    ("😀", "pt-BR", "es", "pt", "metadata"),
    ("", None, "ar", "ar", "session"),
    # the script rules a fallback out
    ("好的", None, None, "zh", "model"),  # not English, whatever the default says
    ("好的", None, "ja", "ja", "session"),  # Han alone may well be Japanese
    ("はい", None, "zh", "ja", "model"),  # kana is Japanese only
]


@pytest.mark.parametrize(("text", "hint", "session", "code", "source"), FALLBACKS)
def test_short_or_wordless_text_falls_back(
    identifier: LanguageIdentifier,
    text: str,
    hint: str | None,
    session: str | None,
    code: str,
    source: str,
) -> None:
    result = identifier.identify(text, hint=hint, session=session)
    assert (result.code, result.source) == (code, source)


def test_cyrillic_rules_out_latin_fallbacks(identifier: LanguageIdentifier) -> None:
    result = identifier.identify("да", session="de")
    assert result.source == "model"
    assert result.code in {"ru", "uk", "bg", "mk", "sr", "be", "kk"}


def test_fallback_confidence_is_the_texts_own_evidence(identifier: LanguageIdentifier) -> None:
    result = identifier.identify("12345", session="fr")
    assert result.as_dict() == {"code": "fr", "confidence": 0.0, "source": "session", "ranking": []}


def test_served_member_of_a_macrolanguage_is_reported() -> None:
    croatian_desk = LanguageIdentifier(MODEL, supported_languages=["en", "hr"])
    assert croatian_desk.identify("Gdje je moja pošiljka?").code == "hr"
    malaysian_desk = LanguageIdentifier(MODEL, supported_languages=["ms"])
    assert malaysian_desk.identify("Pesanan saya belum sampai").code == "ms"


@pytest.mark.parametrize(
    ("text", "without_prior", "on_the_desk"),
    [("Boa tarde", "gl", "pt"), ("Hola, buenas", "es", "es"), ("Pago duplicado", "es", "es")],
)
def test_served_languages_win_short_ambiguous_text(
    text: str, without_prior: str, on_the_desk: str
) -> None:
    """Two words of Portuguese read as Galician by the detectors alone go to the desk's
    Portuguese; a served language's own short text gains confidence (past min_confidence for
    "Pago duplicado")."""
    plain = LanguageIdentifier(MODEL, supported_languages=SERVED, served_prior=0.0)
    desk = LanguageIdentifier(MODEL, supported_languages=SERVED)
    assert plain.predict(text).code == without_prior
    assert desk.predict(text).code == on_the_desk
    assert desk.predict(text).confidence > plain.predict(text).probability(on_the_desk)


def test_expected_languages_share_the_prior() -> None:
    """A desk whose Italian team reads Italian customers: short Italian is not lost to the
    served languages' prior (shown with a strong one)."""
    without_team = LanguageIdentifier(MODEL, supported_languages=SERVED, served_prior=3.0)
    with_team = LanguageIdentifier(
        MODEL, supported_languages=SERVED, expected_languages=["it"], served_prior=3.0
    )
    for text in ("Ho pagato", "Va bene"):
        assert without_team.predict(text).code != "it"
        assert with_team.predict(text).code == "it"


def test_shipped_desk_languages_match_the_routing() -> None:
    """config.yml's language ID favours exactly the languages routing.yml answers or has a
    team for: a language added to one and not the other would be routed by one prior and
    detected by another."""
    from benchmarks.langid import shipped_detector_settings

    root = MODEL.parent.parent
    detector = shipped_detector_settings(root / "config.yml")
    routing = load_config(root / "handoff" / "routing.yml")
    assert detector["supported_languages"] == list(routing.served_languages)
    assert set(detector["expected_languages"]) == (
        set(routing.queues.languages) - set(routing.served_languages)
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Il pacco è arrivato rotto", "it"),
        ("Dziękuję bardzo", "pl"),
        ("Mijn pakket is kapot", "nl"),
    ],
)
def test_served_prior_leaves_clear_unserved_languages_alone(
    identifier: LanguageIdentifier, text: str, code: str
) -> None:
    assert identifier.identify(text).as_dict()["code"] == code
    assert identifier.identify(text).source == "model"


def test_ranking_is_cut_to_top_k() -> None:
    result = LanguageIdentifier(MODEL, top_k=5).identify("Il pacco è arrivato rotto")
    probabilities = [p for _, p in result.ranking]
    assert len(probabilities) == 5
    assert probabilities == sorted(probabilities, reverse=True)


def test_long_input_is_capped(identifier: LanguageIdentifier, monkeypatch) -> None:
    """A 10,000-character message reaches the models as at most MAX_INPUT_CHARS characters
    (what bounds its cost), and is still identified."""
    seen: list[int] = []
    for model in (language_models.FastTextModel, language_models.LangidModel):
        original = model.probabilities

        def spy(self, text: str, original=original) -> object:
            seen.append(len(text))
            return original(self, text)

        monkeypatch.setattr(model, "probabilities", spy)
    paragraph = "Bonjour, je voudrais retourner ma commande car elle est abîmée. "
    huge = paragraph * (10_000 // len(paragraph) + 1)

    assert identifier.identify(huge).code == "fr"
    assert seen and max(seen) <= MAX_INPUT_CHARS


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gets_a_language(text: str) -> None:
    result = _shared_identifier().identify(text, hint="xx-invalid", session=42)
    assert len(result.code) == 2
    assert 0.0 <= result.confidence <= 1.0


def _shared_identifier() -> LanguageIdentifier:
    # hypothesis cannot take function-scoped fixtures; the models are cached per process.
    return LanguageIdentifier(MODEL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12345", False),
        ("#A12-99X 0RD3R", False),
        ("+49 (0)30 1234-567", False),
        ("https://example.com/a?b=c www.example.org", False),
        ("max@example.com @support", False),
        ("👍🏽🎉 :-) !!!", False),
        ("", False),
        ("ok", True),
        ("好", True),
        ("A12 bitte", True),
    ],
)
def test_has_words(text: str, expected: bool) -> None:
    assert has_words(text) is expected


@pytest.mark.parametrize(
    ("tag", "code"),
    [("de-DE", "de"), ("zh_Hant_TW", "zh"), ("PT", "pt"), ("iw", "he"), ("nb-NO", "no"),
     ("deu", None), ("", None), (None, None), (7, None), ("x1", None)],
)  # fmt: skip
def test_normalize_language_tag(tag: object, code: str | None) -> None:
    assert normalize_language_tag(tag) == code


def test_missing_model_names_the_setup_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m nlu_components\.assets"):
        LanguageIdentifier(tmp_path / "lid.176.ftz")


@pytest.mark.parametrize(
    "config",
    [
        {"default_language": "english"},
        {"min_confidence": 1.5},
        {"supported_languages": ["xyz"]},
        {"served_prior": -1.0},
        {"served_prior": 50.0},
    ],
)
def test_invalid_config_fails_early(config: dict) -> None:
    with pytest.raises(ValueError):
        LanguageIdentifier(MODEL, **config)


# The Rasa component: a thin adapter, run on Message objects as Rasa's graph would.


def test_component_sets_language_on_messages_and_training_examples() -> None:
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from nlu_components.language_detector import LANGUAGE, LanguageDetector

    detector = LanguageDetector({"model_path": str(MODEL), "supported_languages": SERVED})
    live = [
        Message(data={"text": "Wo ist meine Bestellung?", "metadata": {}}),
        Message(data={"text": "ok", "metadata": {"session_language": "pt"}}),
        Message(data={"text": "12345", "metadata": {"language_hint": "es-MX"}}),
        Message(data={"text": "hallo"}),
    ]
    detector.process(live)
    assert [(m.get(LANGUAGE)["code"], m.get(LANGUAGE)["source"]) for m in live] == [
        ("de", "model"),
        ("pt", "session"),
        ("es", "metadata"),
        ("en", "default"),
    ]
    assert all(LANGUAGE in m.output_properties for m in live)
    assert set(live[0].get(LANGUAGE)) == {"code", "confidence", "source", "ranking"}

    pinned = Message.build("ok", intent="affirm", intent_metadata={"language_hint": "de"})
    unpinned = Message.build("Je veux retourner ma commande", intent="return_item")
    intent_only = Message(data={"intent": "greet"})
    detector.process_training_data(TrainingData([pinned, unpinned, intent_only]))
    assert pinned.get(LANGUAGE)["code"] == "de"
    assert unpinned.get(LANGUAGE)["code"] == "fr"
    assert intent_only.get(LANGUAGE) is None


def test_component_defaults_are_visible_and_complete() -> None:
    from nlu_components.language_detector import LanguageDetector

    assert set(LanguageDetector.get_default_config()) == {
        "model_path", "supported_languages", "min_confidence", "min_chars",
        "default_language", "top_k", "served_prior", "expected_languages",
    }  # fmt: skip


# -- only evidence sets a conversation's language (#35)
def _first_turn(identifier: LanguageIdentifier, text: str, **metadata: object) -> Turn:
    """The turn the routing policy sees for `text` as a conversation's first real message."""
    result = identifier.identify(text, hint=language_hint(dict(metadata)))
    return Turn.from_parse({"text": text, "language": result.as_dict()})


def test_on_the_desk_the_portuguese_message_is_confident(identifier: LanguageIdentifier) -> None:
    """With the served prior "Onde está o meu pedido?" clears `language_confidence` itself
    (Galician, its runner-up, is not served). The Spanish one stays below: its runner-up is
    Portuguese, served too, and there the first-message rule above decides."""
    portuguese = _first_turn(identifier, "Onde está o meu pedido?")
    assert portuguese.language == "pt"
    assert portuguese.language_confidence >= RoutingConfig().language_confidence


@pytest.mark.parametrize("text", ["", "😡😡😡", "LD-482913", "   "])
def test_a_message_without_words_never_sets_the_language(
    identifier: LanguageIdentifier, text: str
) -> None:
    config = RoutingConfig()
    turn = _first_turn(identifier, text)
    assert language_evidence(turn, None, config) is None
    assert language_evidence(turn, "de", config) is None


def test_a_slash_intent_carries_no_language() -> None:
    """`/greet` (rasa-webchat's init payload) is parsed by Rasa without the NLU pipeline: no
    language key at all, so nothing to store; replies use the default until words come."""
    config = RoutingConfig()
    greet = {"text": "/greet", "intent": {"name": "greet", "confidence": 1.0}}
    events = [{"event": "user", "text": "/greet", "parse_data": greet}]
    analysis = analyse(events, greet, {}, config)
    assert (analysis.language, analysis.language_known) == ("en", False)


@pytest.mark.parametrize(
    ("text", "code"),
    [("Hola, ¿dónde está mi pedido LD-482913?", "es"), ("Onde está o meu pedido?", "pt")],
)
def test_the_first_real_message_after_greet_chooses_the_language(text: str, code: str) -> None:
    """The issue's two quoted messages as the detectors alone read them, below
    `language_confidence` (0.8): they still beat the default, which was never evidence."""
    config = RoutingConfig()
    detectors_alone = LanguageIdentifier(MODEL, supported_languages=SERVED, served_prior=0.0)
    turn = _first_turn(detectors_alone, text)
    assert turn.language == code and turn.language_confidence < config.language_confidence
    parse = {"text": text, "language": {"code": turn.language, "source": "model",
                                        "confidence": turn.language_confidence}}  # fmt: skip
    greet = {"text": "/greet", "intent": {"name": "greet", "confidence": 1.0}}
    events = [
        {"event": "user", "text": "/greet", "parse_data": greet},
        {"event": "user", "text": text, "parse_data": parse},
    ]
    analysis = analyse(events, parse, {}, config)  # the slot stayed unset after /greet
    assert (analysis.language, analysis.language_known) == (code, True)
    # Once the customer's words set it, an unsure detection no longer changes it.
    assert analyse(events, parse, {"language": "de"}, config).language == "de"


@pytest.mark.parametrize(
    "metadata",
    [{"language_hint": "es-ES"}, {"language": "es"}, {"customData": {"language": "es-MX"}}],
)
def test_client_hints_are_read_alike_and_validated(
    identifier: LanguageIdentifier, metadata: dict
) -> None:
    turn = _first_turn(identifier, "ok", **metadata)  # too short to decide: the hint does
    assert (turn.language, turn.language_source) == ("es", "metadata")
    assert language_evidence(turn, None, RoutingConfig()) == "es"
    assert language_evidence(turn, "de", RoutingConfig()) is None  # words set it already
    assert language_hint({"customData": {"language": "<script>"}, "language": 7}) is None
