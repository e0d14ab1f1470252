"""The rasa-sdk actions, turn by turn against a real Redis, and the rule that triggers them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from actions.actions import ActionAnalyseTurn, ActionDeliverAgentMessages, ActionHandoff
from bot.supervisor import RedisServer
from handoff.config import RoutingConfig
from handoff.delivery import HandoffServices
from handoff.tickets import AGENT_METADATA_KEY, Ticket
from tests.conftest import REPO_ROOT
from tests.test_queues import queue_length

pytest_plugins = ["tests.redis_server"]

SLOTS = (
    "language",
    "sentiment_trend",
    "escalate",
    "escalation_reason",
    "handed_off",
    "handoff_ticket",
    "order_number",
)


def config_for(url: str, **handoff: Any) -> RoutingConfig:
    config = RoutingConfig()
    settings = {
        "redis_url": url,
        "redis_timeout_seconds": 1,
        "retry_interval_seconds": 0.2,
        **handoff,
    }
    return dataclasses.replace(config, handoff=dataclasses.replace(config.handoff, **settings))


class Chat:
    """Just enough of Rasa's processor to drive the actions like a live conversation.

    Per user message: action_extract_slots runs action_analyse_turn and then
    action_validate_slot_mappings (paused or not); when `escalate` is set and the conversation
    is not paused, the handoff rule runs action_handoff.
    """

    def __init__(self, services: HandoffServices, sender: str = "conv-1") -> None:
        self.services = services
        self.sender = sender
        self.events: list[dict[str, Any]] = [{"event": "session_started"}]
        self.slots: dict[str, Any] = dict.fromkeys(SLOTS)
        self.paused = False

    def tracker(self) -> Tracker:
        latest = next(e["parse_data"] for e in reversed(self.events) if e["event"] == "user")
        return Tracker(
            self.sender,
            dict(self.slots),
            latest,
            list(self.events),
            self.paused,
            None,
            {},
            "action_listen",
        )

    def apply(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event["event"] == "slot":
                self.slots[event["name"]] = event["value"]
            self.paused = {"pause": True, "resume": False}.get(event["event"], self.paused)
            self.events.append(event)

    async def say(
        self,
        text: str,
        language: str = "de",
        sentiment: str = "neutral",
        intent: str = "order_status",
        entities: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """The customer writes; returns what the bot (or a waiting agent message) says."""
        confidence = 0.9
        self.events.append(
            {
                "event": "user",
                "text": text,
                "timestamp": time.time(),
                "parse_data": {
                    "text": text,
                    "intent": {"name": intent, "confidence": 0.9},
                    "entities": entities or [],
                    "language": {"code": language, "confidence": 0.97, "source": "model"},
                    "sentiment": {"label": sentiment, "confidence": confidence},
                },
            }
        )
        dispatcher = CollectingDispatcher()
        for action in (ActionAnalyseTurn, ActionDeliverAgentMessages):
            self.apply(await action(self.services).run(dispatcher, self.tracker(), {}))
        if self.slots["escalate"] and not self.paused:
            self.apply(await ActionHandoff(self.services).run(dispatcher, self.tracker(), {}))
        for message in dispatcher.messages:
            self.events.append(
                {
                    "event": "bot",
                    "text": message.get("text") or message["response"],
                    "metadata": message,
                }
            )
        return dispatcher.messages


@pytest.fixture
async def services(redis_url: str) -> AsyncIterator[HandoffServices]:
    services = HandoffServices(config_for(redis_url))
    yield services
    await services.queues.aclose()


ORDER = [{"entity": "order_number", "value": "LD-482913", "start": 0, "end": 9}]


@pytest.mark.redis
@pytest.mark.anyio
async def test_angry_german_customer_is_handed_off(services: HandoffServices) -> None:
    chat = Chat(services)
    assert (
        await chat.say(
            "Wo ist LD-482913? Das ist eine Frechheit!", sentiment="negative", entities=ORDER
        )
        == []
    )
    assert chat.slots["escalate"] is None and chat.slots["language"] == "de"
    said = await chat.say("Ich warte seit zwei Wochen!!", sentiment="negative", intent="complaint")
    assert [(m["response"], m["queue"], m["position"], m["wait_minutes"]) for m in said] == [
        ("utter_handoff_queued", "agents_de", 1, 6)
    ]
    assert chat.paused and chat.slots["handed_off"] is True
    assert chat.slots["escalate"] is True
    assert "angry" in chat.slots["escalation_reason"]
    record = chat.slots["handoff_ticket"]
    assert record["delivered"] is True and record["queue"] == "agents_de"
    ticket = await services.queues.get(record["ticket_id"])
    assert (ticket.queue, ticket.language, ticket.priority_name) == ("agents_de", "de", "high")
    assert [line["text"] for line in ticket.transcript] == [
        "Wo ist LD-482913? Das ist eine Frechheit!",
        "Ich warte seit zwei Wochen!!",
    ]
    assert ticket.entities == {"order_number": "LD-482913"}
    assert [t["label"] for t in ticket.sentiment_trend] == ["negative", "negative"]


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_paused_conversation_does_not_escalate_again(
    services: HandoffServices, redis_url: str
) -> None:
    chat = Chat(services)
    await chat.say("I want a human", language="en", intent="request_human")
    assert chat.paused
    assert await chat.say("hello??", language="en", intent="request_human") == []
    assert chat.slots["escalate"] is None  # the agent has it; the bot stays quiet
    assert queue_length(redis_url, "agents_en") == 1


@pytest.mark.redis
@pytest.mark.anyio
async def test_unserved_language_is_kept_for_the_ticket(services: HandoffServices) -> None:
    chat = Chat(services)
    said = await chat.say("Buongiorno, il mio ordine non è arrivato", language="it")
    assert said[0]["response"] == "utter_handoff_queued" and said[0]["queue"] == "agents_it"
    assert chat.slots["language"] == "it"  # replies fall back to English through the domain
    ticket = await services.queues.get(chat.slots["handoff_ticket"]["ticket_id"])
    assert ticket.language == "it" and "Italian" in ticket.reason


@pytest.mark.redis
@pytest.mark.anyio
async def test_polite_complaint_stays_with_the_bot(
    services: HandoffServices, redis_url: str
) -> None:
    chat = Chat(services)
    await chat.say("I'm afraid my parcel arrived damaged", language="en", intent="complaint")
    await chat.say("Could you help me with that?", language="en", sentiment="negative")
    assert not chat.paused and chat.slots["escalate"] is None
    # unchanged slots are not set again, so a calm conversation's tracker stays lean
    slot_events = [e["name"] for e in chat.events if e["event"] == "slot"]
    assert "escalate" not in slot_events and slot_events.count("language") == 1
    assert queue_length(redis_url, "agents_en") == 0


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_down_during_handoff_the_ticket_arrives_once(
    services: HandoffServices, redis_server: RedisServer, redis_url: str
) -> None:
    chat = Chat(services)
    redis_server.stop()
    try:
        said = await chat.say("Ich will einen Menschen sprechen!", intent="request_human")
    finally:
        redis_server.start()
    assert [m["response"] for m in said] == ["utter_handoff_delayed"]
    assert chat.paused and chat.slots["handed_off"] is True
    record = chat.slots["handoff_ticket"]
    assert record["delivered"] is False and Ticket.from_dict(record["ticket"]).queue == "agents_de"
    # the action server's background retry delivers it without waiting for the customer ...
    for _ in range(50):
        if queue_length(redis_url, "agents_de"):
            break
        await asyncio.sleep(0.1)
    assert queue_length(redis_url, "agents_de") == 1
    # ... and the customer's next message finds it there: marked delivered, not duplicated
    await chat.say("Hallo?")
    assert chat.slots["handoff_ticket"]["delivered"] is True
    assert chat.slots["handoff_ticket"]["ticket_id"] == record["ticket_id"]
    assert queue_length(redis_url, "agents_de") == 1


@pytest.mark.redis
@pytest.mark.anyio
async def test_ticket_kept_in_the_tracker_survives_an_action_server_restart(
    redis_server: RedisServer, redis_url: str
) -> None:
    first_server = HandoffServices(config_for(redis_url, redelivery_seconds=0))
    chat = Chat(first_server)
    redis_server.stop()
    try:
        await chat.say("Je veux parler à quelqu'un", language="fr", intent="request_human")
    finally:
        redis_server.start()
    await first_server.queues.aclose()  # this action server died: its retry is gone
    chat.services = HandoffServices(config_for(redis_url))
    await chat.say("Il y a quelqu'un ?", language="fr")
    await chat.say("Allô ?", language="fr")
    assert chat.slots["handoff_ticket"]["delivered"] is True
    assert queue_length(redis_url, "agents_fr") == 1
    await chat.services.queues.aclose()


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_ticket_redis_acknowledged_then_lost_is_delivered_again_once(
    services: HandoffServices, redis_url: str
) -> None:
    """A failover to a replica that never got the write loses an acknowledged ticket; the
    copy in the tracker brings it back with the customer's next message, exactly once."""
    chat = Chat(services)
    await chat.say("Ich will einen Menschen sprechen", intent="request_human")
    record = chat.slots["handoff_ticket"]
    assert record["delivered"] is True and queue_length(redis_url, "agents_de") == 1
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()  # the promoted replica has none of it
    await chat.say("Hallo? Ist da jemand?")
    await chat.say("Hallo??")
    assert queue_length(redis_url, "agents_de") == 1
    restored = await services.queues.get(record["ticket_id"])
    assert restored.conversation_id == chat.sender and restored.queue == "agents_de"
    assert chat.slots["handoff_ticket"]["ticket_id"] == record["ticket_id"]


@pytest.mark.redis
@pytest.mark.anyio
async def test_agent_messages_for_a_pull_channel_go_out_with_the_next_turn(
    services: HandoffServices,
) -> None:
    chat = Chat(services)
    await chat.say("Quiero hablar con una persona", language="es", intent="request_human")
    ticket_id = chat.slots["handoff_ticket"]["ticket_id"]
    await services.queues.push_outbox(
        chat.sender, {"text": "Hola, soy Ana.", "agent": "ana", "ticket_id": ticket_id}
    )
    said = await chat.say("¿Hola?", language="es")
    assert [(m["text"], m[AGENT_METADATA_KEY], m["ticket_id"]) for m in said] == [
        ("Hola, soy Ana.", "ana", ticket_id)
    ]
    assert await chat.say("¿Sigues ahí?", language="es") == []  # delivered once


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_new_session_with_an_open_ticket_goes_back_to_the_queue(
    services: HandoffServices, redis_url: str
) -> None:
    chat = Chat(services)
    await chat.say("Ich will einen Menschen", intent="request_human")
    # an hour later Rasa starts a new session: slots carried over, but no longer paused
    chat.apply([{"event": "session_started"}])
    chat.paused = False
    said = await chat.say("Hallo, ist da jemand?", intent="greet")
    assert said[0]["response"] == "utter_handoff_queued" and said[0]["position"] == 1
    assert chat.paused
    assert queue_length(redis_url, "agents_de") == 1  # the open ticket was updated


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_malformed_kept_ticket_does_not_block_the_handoff(
    services: HandoffServices, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat(services)
    chat.slots["handoff_ticket"] = {"delivered": False, "ticket": {"ticket_id": "half"}}
    said = await chat.say("Ich will einen Menschen", intent="request_human")
    assert said[0]["response"] == "utter_handoff_queued"
    assert "malformed handoff_ticket" in caplog.text and "incomplete ticket" in caplog.text
    assert queue_length(redis_url, "agents_de") == 1


def test_the_handoff_rule_covers_every_intent() -> None:
    domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text())
    rules = yaml.safe_load((REPO_ROOT / "data" / "handoff.yml").read_text())["rules"]
    (rule,) = rules
    listed = {step["intent"] for step in rule["steps"][0]["or"]}
    assert listed == {*domain["intents"], "nlu_fallback"}
    assert rule["steps"][1:] == [
        {"slot_was_set": [{"escalate": True}]},
        {"action": "action_handoff"},
    ]


def test_the_action_server_registers_the_actions() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    assert {"action_analyse_turn", "action_handoff", "action_validate_slot_mappings"} <= set(
        executor.actions
    )
