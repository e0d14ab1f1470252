"""rasa-sdk actions of the human handoff: the routing policy and the Redis queues at work.

- ``action_analyse_turn`` is the custom mapping action of the ``language``,
  ``sentiment_trend``, ``escalate`` and ``escalation_reason`` slots, so Rasa's
  ``action_extract_slots`` runs it after every user message, paused conversations included.
  It applies the routing policy; it may only set slots (Rasa drops any other event, and a
  message it utters, from a slot-mapping action).
- ``action_handoff`` runs when ``escalate`` is true (the rule in data/handoff.yml). It queues
  the ticket, tells the customer what happens next and pauses the conversation: Rasa then logs
  the customer's messages (the transcript the agent reads) without answering them, until the
  agent API resumes it.
- ``action_validate_slot_mappings`` runs after the slot-mapping actions on every user message
  and, unlike them, may utter: it delivers the agent messages waiting for a pull channel.

The decisions and the Redis work are the handoff package's (handoff.conversation,
handoff.delivery, handoff.queues); these classes only read the tracker and write events.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.types import DomainDict

from handoff.config import RoutingConfig
from handoff.config_loader import load_config
from handoff.conversation import Analysis, analyse, ticket_transcript
from handoff.delivery import HandoffServices, handoff_record, kept_ticket
from handoff.errors import QueueUnavailableError
from handoff.policy import Escalate, reopened
from handoff.tickets import AGENT_METADATA_KEY, Ticket

logger = logging.getLogger(__name__)

# The slots analyse() reads.
ANALYSED_SLOTS = ("language", "order_number")


@functools.cache
def default_services() -> HandoffServices:
    """What the action server uses: handoff/routing.yml (or LINGODESK_ROUTING_CONFIG)."""
    return HandoffServices(load_config())


class UsesHandoffServices:
    """Gives an action its services; tests pass their own, the action server the default."""

    def __init__(self, services: HandoffServices | None = None) -> None:
        self._services = services

    @property
    def services(self) -> HandoffServices:
        return self._services or default_services()


def _analyse(tracker: Tracker, config: RoutingConfig) -> Analysis:
    slots = {name: tracker.get_slot(name) for name in ANALYSED_SLOTS}
    return analyse(tracker.events, tracker.latest_message, slots, config)


def _pending_ticket(tracker: Tracker) -> Ticket | None:
    """The conversation's ticket that Redis has not taken yet, if any."""
    kept = kept_ticket(tracker.get_slot("handoff_ticket"), tracker.sender_id)
    return kept[0] if kept and not kept[1] else None


def _slot_changes(tracker: Tracker, values: Mapping[str, Any]) -> list[EventType]:
    """SlotSet events for the values that differ from the tracker's (keeps the tracker lean)."""
    return [
        SlotSet(name, value) for name, value in values.items() if tracker.get_slot(name) != value
    ]


class ActionAnalyseTurn(UsesHandoffServices, Action):
    """After every user message: the customer's language, mood, and whether to escalate."""

    def name(self) -> str:
        return "action_analyse_turn"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        analysis = _analyse(tracker, self.services.config)
        values: dict[str, Any] = {"sentiment_trend": analysis.trend}
        if analysis.language_known:  # the default is not stored: evidence may still come
            values["language"] = analysis.language
        if tracker.get_slot("handed_off"):
            # An agent has the conversation. If Rasa un-paused it anyway (a new session starts
            # un-paused) while the ticket is open, escalate again: the ticket is updated and the
            # conversation paused, so the bot does not talk over the agent.
            values["escalate"] = None if tracker.is_paused() else True
        elif isinstance(analysis.decision, Escalate):
            values.update(escalate=True, escalation_reason=analysis.decision.reason)
        else:
            # None, not False: an unset bool slot featurizes like the stories that never set it.
            values.update(escalate=None, escalation_reason=None)
        events = _slot_changes(tracker, values)
        return events + await self._deliver_pending(tracker)

    async def _deliver_pending(self, tracker: Tracker) -> list[EventType]:
        """Deliver a ticket Redis refused earlier, or lost after taking it; idempotent, so a
        background retry that got there first makes this a no-op."""
        record = await self.services.ensure_delivered(
            tracker.get_slot("handoff_ticket"), tracker.sender_id
        )
        return [] if record is None else [SlotSet("handoff_ticket", record)]


class ActionHandoff(UsesHandoffServices, Action):
    """Queue the conversation for a human, tell the customer, and pause the bot."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        config = self.services.config
        analysis = _analyse(tracker, config)
        escalation = analysis.decision
        if not isinstance(escalation, Escalate):
            escalation = reopened(analysis.language, tracker.get_slot("escalation_reason"), config)
        pending = _pending_ticket(tracker)
        ticket = Ticket(
            # a ticket still waiting for Redis keeps its id, so it can never arrive twice
            ticket_id=pending.ticket_id if pending else Ticket.new_id(),
            conversation_id=tracker.sender_id,
            queue=escalation.queue,
            priority=escalation.priority,
            reason=escalation.reason,
            language=analysis.language,
            sentiment_trend=analysis.trend,
            transcript=ticket_transcript(tracker.events, config),
            entities=analysis.entities,
        )
        try:
            submission = await self.services.queues.submit(ticket)
        except QueueUnavailableError as error:
            logger.warning(
                "Handoff of %s delayed, ticket %s kept in the tracker: %s",
                tracker.sender_id,
                ticket.ticket_id,
                error,
            )
            dispatcher.utter_message(response="utter_handoff_delayed")
            self.services.redeliver_later(ticket)
            record = handoff_record(ticket, delivered=False)
        else:
            dispatcher.utter_message(
                response="utter_handoff_queued",
                queue=submission.ticket.queue,
                position=submission.position,
                wait_minutes=submission.wait_minutes,
            )
            record = handoff_record(submission.ticket, delivered=True)
        return [
            SlotSet("handed_off", True),
            SlotSet("handoff_ticket", record),
            ConversationPaused(),
        ]


class ActionDeliverAgentMessages(UsesHandoffServices, ValidationAction):
    """Hand a pull channel's customer the agent messages written since their last message.

    Rasa's REST channel only answers the request that carries the customer's message, so an
    agent's reply waits in Redis (see bot/agent/api.py) until this action, which Rasa runs
    after every user message, utters it. Slot validation methods (`validate_<slot>`) can still
    be added to this class: it is the assistant's one `action_validate_slot_mappings`.
    """

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            messages = await self.services.queues.drain_outbox(tracker.sender_id)
        except QueueUnavailableError as error:
            logger.warning("Agent messages for %s wait for Redis: %s", tracker.sender_id, error)
            messages = []
        for message in messages:
            if "response" in message:
                dispatcher.utter_message(response=message["response"])
            else:
                metadata = {AGENT_METADATA_KEY: message["agent"], "ticket_id": message["ticket_id"]}
                dispatcher.utter_message(text=message["text"], **metadata)
        return await super().run(dispatcher, tracker, domain)
