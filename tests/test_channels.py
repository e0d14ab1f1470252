"""The channels hand the conversation's language to the language detector."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet

from bot.channels import SESSION_LANGUAGE, add_session_language

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
slots:
  language:
    type: text
    mappings:
    - type: custom
"""
)


def _app_with(store: InMemoryTrackerStore) -> SimpleNamespace:
    return SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(tracker_store=store)))


def test_session_language_comes_from_the_tracker_slot():
    async def scenario() -> UserMessage:
        store = InMemoryTrackerStore(DOMAIN)
        tracker = await store.get_or_create_tracker("anna")
        tracker.update(SlotSet("language", "de"))
        await store.save(tracker)
        message = UserMessage("ok", sender_id="anna", metadata={"language_hint": "en-US"})
        return await add_session_language(_app_with(store), message)

    message = asyncio.run(scenario())
    assert message.metadata == {"language_hint": "en-US", SESSION_LANGUAGE: "de"}


def test_a_new_conversation_or_no_agent_leaves_the_message_alone():
    async def scenario() -> tuple[UserMessage, UserMessage]:
        store = InMemoryTrackerStore(DOMAIN)
        fresh = await add_session_language(_app_with(store), UserMessage("hi", sender_id="bob"))
        no_app = await add_session_language(None, UserMessage("hi", sender_id="bob"))
        return fresh, no_app

    fresh, no_app = asyncio.run(scenario())
    assert SESSION_LANGUAGE not in (fresh.metadata or {})
    assert SESSION_LANGUAGE not in (no_app.metadata or {})
