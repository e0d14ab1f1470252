"""The routing policy over a table of conversations, and its configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.config import ConfigError, RoutingConfig
from handoff.config_loader import DEFAULT_CONFIG_PATH, load_config
from handoff.policy import Escalate, Stay, conversation_language, decide, parse_amount
from handoff.turns import Turn

CONFIG = RoutingConfig()


def msg(
    language: str,
    sentiment: str = "neutral",
    confidence: float = 0.9,
    intent: str = "order_status",
    language_confidence: float = 0.97,
    **entities: str,
) -> Turn:
    """One user message as the NLU would annotate it."""
    polarity = {"positive": confidence, "negative": -confidence}.get(sentiment, 0.0)
    return Turn(
        intent=intent,
        language=language,
        language_confidence=language_confidence,
        sentiment=sentiment,
        sentiment_confidence=confidence,
        polarity=polarity,
        entities=entities,
    )


def run(conversation: list[Turn], previous_language: str | None = None):
    """Decide after the last message, as the action does after each user turn."""
    *history, turn = conversation
    language = conversation_language(turn, previous_language, CONFIG)
    return decide(turn, history, language, CONFIG)


# (name, conversation, expected queue or None for stay, priority, rules that fire)
TABLE = [
    (
        "angry customer in German",
        [msg("de", "negative", 0.85), msg("de", "negative", 0.93)],
        "agents_de", "high", ("anger",),
    ),
    (
        "polite complaint stays with the bot",
        [msg("en"), msg("en", "negative", 0.55, intent="delivery_problem")],
        None, None, (),
    ),
    (
        "one angry message is not yet anger",
        [msg("es", "positive"), msg("es", "neutral"), msg("es", "negative", 0.95)],
        None, None, (),
    ),
    (
        "unsupported language with a team of its own",
        [msg("it", language_confidence=0.95)],
        "agents_it", "normal", ("language",),
    ),
    (
        "unsupported language without a team",
        [msg("nl", language_confidence=0.91)],
        "agents_multilingual", "normal", ("language",),
    ),
    (
        "unsure detection of an unsupported language stays",
        [msg("it", language_confidence=0.3, intent="affirm")],
        None, None, (),
    ),
    (
        "explicit request in English",
        [msg("en", intent="greet"), msg("en", intent="request_human")],
        "agents_en", "normal", ("explicit_request",),
    ),
    (
        "mixed: angry Spanish customer asks for a person about a big order",
        [
            msg("es", "negative", 0.8, amount="1.299,90", currency="EUR"),
            msg("es", "negative", 0.9, intent="request_human"),
        ],
        "agents_es", "urgent", ("explicit_request", "anger"),
    ),
    (
        "mixed: angry customer in a language nobody serves",
        [msg("pl", "negative", 0.9), msg("pl", "negative", 0.8)],
        "agents_multilingual", "high", ("anger", "language"),
    ),
    (
        "sharp drop from happy to negative",
        [msg("fr", "positive", 0.8), msg("fr", "negative", 0.75)],
        "agents_fr", "high", ("anger",),
    ),
    (
        "repeated fallback",
        [msg("pt", intent="nlu_fallback"), msg("pt", intent="greet"),
         msg("pt", intent="nlu_fallback")],
        "agents_pt", "normal", ("repeated_fallback",),
    ),
    (
        "a big yen amount under the JPY threshold does not raise priority",
        [msg("ja", intent="request_human", amount="50000", currency="JPY")],
        "agents_ja", "normal", ("explicit_request",),
    ),
    (
        "a big yen amount over the JPY threshold raises priority",
        [msg("ja", intent="request_human", amount="80,000", currency="jpy")],
        "agents_ja", "high", ("explicit_request",),
    ),
    (
        "happy customer stays",
        [msg("zh", "positive", 0.99, intent="thanks")],
        None, None, (),
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("conversation", "queue", "priority", "rules"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_policy_table(conversation, queue, priority, rules) -> None:
    decision = run(conversation)
    if queue is None:
        assert decision == Stay()
        return
    assert isinstance(decision, Escalate)
    assert (decision.queue, decision.priority_name, decision.rules) == (queue, priority, rules)


def test_reason_is_a_sentence_an_agent_can_act_on() -> None:
    decision = run(
        [
            msg("es", "negative", 0.8, amount="1.299,90", currency="EUR"),
            msg("es", "negative", 0.9, intent="request_human"),
        ]
    )
    assert isinstance(decision, Escalate)
    assert decision.reason == (
        "The customer asked to talk to a person. "
        "The customer is angry: negative sentiment in 2 of the last 2 messages. "
        "Queue agents_es. "
        "Priority urgent, raised for anger and an order of 1299.9 EUR (from 500 up)."
    )


def test_unserved_language_reason_names_the_language() -> None:
    decision = run([msg("it", language_confidence=0.93)])
    assert isinstance(decision, Escalate)
    assert "Italian (it, confidence 0.93), which the bot does not serve" in decision.reason


def test_anger_is_judged_on_the_window_only() -> None:
    old_anger = [msg("de", "negative", 0.9), msg("de", "negative", 0.9)]
    calm = [msg("de"), msg("de"), msg("de", "positive", 0.6)]
    assert run(old_anger + calm) == Stay()


def test_language_follows_confident_detections_only() -> None:
    assert conversation_language(msg("de"), None, CONFIG) == "de"
    # "ok" detected as Italian with low confidence: the conversation stays German
    assert conversation_language(msg("it", language_confidence=0.2), "de", CONFIG) == "de"
    # an unsure first message in a served language is used, an unserved one is not
    assert conversation_language(msg("es", language_confidence=0.5), None, CONFIG) == "es"
    assert conversation_language(msg("tr", language_confidence=0.5), None, CONFIG) == "en"
    # a confident unserved language is kept so the ticket carries it
    assert conversation_language(msg("tr"), "en", CONFIG) == "tr"


def test_turn_from_rasa_parse_result() -> None:
    parse = {
        "text": "¡Mi pedido LD-482913 no llega!",
        "intent": {"name": "order_status", "confidence": 0.91},
        "entities": [{"entity": "order_number", "value": "LD-482913", "start": 11, "end": 20}],
        "language": {"code": "es", "confidence": 0.98, "source": "model", "ranking": []},
        "sentiment": {
            "label": "negative",
            "confidence": 0.8,
            "scores": {"negative": 0.8, "neutral": 0.15, "positive": 0.05},
        },
        "anger": {"score": 0.62, "level": "frustrated"},
        "signals": {"wants_human": 0.1, "threat": 0.03},
        "intent_ranking": [
            {"name": "order_status", "confidence": 0.91},
            {"name": "delivery_problem", "confidence": 0.05},
        ],
    }
    turn = Turn.from_parse(parse)
    assert turn == Turn(
        intent="order_status",
        language="es",
        language_confidence=0.98,
        sentiment="negative",
        sentiment_confidence=0.8,
        polarity=pytest.approx(-0.75),
        entities={"order_number": "LD-482913"},
        anger=0.62,
        signals={"wants_human": 0.1, "threat": 0.03},
        intent_ranking=(("order_status", 0.91), ("delivery_problem", 0.05)),
        text="¡Mi pedido LD-482913 no llega!",
    )
    assert Turn.from_parse({"text": "/greet", "intent": {"name": "greet"}}) == Turn(
        intent="greet", text="/greet"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.299,90", 1299.9), ("1,299.90", 1299.9), ("€ 500", 500.0), ("75000", 75000.0),
     ("80,000", 80000.0), ("12,5", 12.5), ("lots", None)],
)  # fmt: skip
def test_parse_amount(text: str, value: float | None) -> None:
    assert parse_amount(text) == value


def test_shipped_yaml_matches_the_documented_defaults() -> None:
    assert load_config(DEFAULT_CONFIG_PATH, environ={}) == RoutingConfig()


def test_known_queues() -> None:
    assert CONFIG.known_queues == {
        *(f"agents_{code}" for code in CONFIG.served_languages),
        "agents_it",
        "agents_multilingual",
    }
    assert CONFIG.queues.team("agents_de") == "agents_de"


def test_redis_url_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "routing.yml"
    path.write_text("handoff: {redis_db: 5}\n")
    assert load_config(path, environ={}).handoff.redis_url == "redis://127.0.0.1:6379/2"
    url = load_config(path, environ={"LINGODESK_REDIS_URL": "redis://r:1/3"}).handoff.redis_url
    assert url == "redis://r:1/3"
    environ = {"LINGODESK_REDIS_PORT": "6380", "LINGODESK_REDIS_PASSWORD": "p@ss"}
    assert (
        load_config(path, environ=environ).handoff.redis_url == "redis://:p%40ss@127.0.0.1:6380/5"
    )


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("rules: {anger: {turn: 2}}", "unknown key(s) turn in rules.anger"),
        ("rules: {anger: {turns: two}}", "rules.anger.turns must be an integer, not 'two'"),
        ("served_languages: en", "served_languages must be a list of strings"),
        ("priority: {base: medium}", "priority.base must be one of"),
        ("rules: {anger: {turns: 4, window: 3}}", "rules.anger: need 1 <= turns <= window"),
        ("- just a list", "the routing config must be a mapping"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "routing.yml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path, environ={})
