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

When Redis is unreachable the ticket is kept in the ``handoff_ticket`` slot (Rasa's tracker
store) and delivered by a background retry or with the customer's next message, whichever
comes first; ticket ids make the delivery idempotent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.types import DomainDict

from handoff.config import RoutingConfig
from handoff.config_loader import load_config
from handoff.errors import InvalidTicketError, QueueError, QueueUnavailableError
from handoff.policy import Decision, Escalate, Turn, conversation_language, decide, reopened
from handoff.queues import TicketQueues
from handoff.redaction import redact_transcript
from handoff.tickets import AGENT_METADATA_KEY, Submission, Ticket, transcript

logger = logging.getLogger(__name__)

# After these events the bot has the conversation afresh: anger, fallbacks and language from
# before them must not send the customer straight back to a queue.
HISTORY_RESETS = {"session_started", "restart", "resume"}


class HandoffServices:
    """The configuration, the Redis queues and the background redeliveries of one action server."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self.queues = TicketQueues.from_config(config)
        self._redeliveries: set[asyncio.Task] = set()

    def redeliver_later(self, ticket: Ticket) -> None:
        """Keep retrying a ticket Redis refused, so it reaches the queue without waiting for the
        customer's next message; the copy in the tracker covers a restart of this server."""
        task = asyncio.create_task(self._redeliver(ticket))
        self._redeliveries.add(task)
        task.add_done_callback(self._redeliveries.discard)

    async def _redeliver(self, ticket: Ticket) -> None:
        handoff = self.config.handoff
        deadline = time.monotonic() + handoff.redelivery_seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(handoff.retry_interval_seconds)
            try:
                submission = await self.queues.submit(ticket)
            except QueueUnavailableError:
                continue
            logger.info(
                "Delivered ticket %s of conversation %s to %s (%s) after Redis came back.",
                ticket.ticket_id,
                ticket.conversation_id,
                submission.ticket.queue,
                submission.outcome,
            )
            return
        logger.error(
            "Redis still unreachable after %.0f s; ticket %s stays in conversation %s and is "
            "delivered with the customer's next message.",
            handoff.redelivery_seconds,
            ticket.ticket_id,
            ticket.conversation_id,
        )


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


@dataclass(frozen=True)
class Analysis:
    """The policy's view of a conversation after its latest user message."""

    language: str
    decision: Decision
    # [{"label": "negative", "polarity": -0.8}, ...] oldest first: the sentiment_trend slot
    trend: list[dict[str, Any]]
    entities: dict[str, str]


def user_turns(events: Iterable[Mapping[str, Any]]) -> list[Turn]:
    """The user messages since the bot last (re)took the conversation, oldest first.

    Messages later reverted by a fallback count: the customer did write them.
    """
    turns: list[Turn] = []
    for event in events:
        if event.get("event") in HISTORY_RESETS:
            turns = []
        elif event.get("event") == "user":
            turns.append(Turn.from_parse(event.get("parse_data") or {}))
    return turns


def analyse(tracker: Tracker, config: RoutingConfig) -> Analysis:
    """Run the routing policy over the conversation so far (both actions see the same)."""
    *history, turn = user_turns(tracker.events) or [Turn.from_parse(tracker.latest_message)]
    language = conversation_language(turn, tracker.get_slot("language"), config)
    entities: dict[str, str] = {}
    for earlier in [*history, turn]:
        entities.update(earlier.entities)
    if tracker.get_slot("order_number"):
        entities["order_number"] = str(tracker.get_slot("order_number"))
    recent = [*history, turn][-config.handoff.history_turns :]
    return Analysis(
        language=language,
        decision=decide(turn, history, language, config),
        trend=[{"label": t.sentiment, "polarity": round(t.polarity, 2)} for t in recent],
        entities=entities,
    )


def ticket_transcript(tracker: Tracker, config: RoutingConfig) -> list[dict[str, Any]]:
    """The conversation's last messages for the ticket, redacted when the config says so."""
    lines = transcript(tracker.events, config.handoff.transcript_turns)
    return redact_transcript(lines) if config.handoff.redact_transcript else lines


def _slot_changes(tracker: Tracker, values: Mapping[str, Any]) -> list[EventType]:
    """SlotSet events for the values that differ from the tracker's (keeps the tracker lean)."""
    return [
        SlotSet(name, value) for name, value in values.items() if tracker.get_slot(name) != value
    ]


def _pending_ticket(tracker: Tracker) -> Ticket | None:
    """The ticket Redis refused earlier, kept in the `handoff_ticket` slot until delivered."""
    record = tracker.get_slot("handoff_ticket")
    if not (isinstance(record, dict) and record.get("delivered") is False):
        return None
    try:
        return Ticket.from_dict(record.get("ticket"))
    except InvalidTicketError as error:
        logger.error("Ignoring the malformed handoff_ticket of %s: %s", tracker.sender_id, error)
        return None


def _delivered(submission: Submission) -> dict[str, Any]:
    return {
        "ticket_id": submission.ticket.ticket_id,
        "queue": submission.ticket.queue,
        "delivered": True,
    }


def _pending(ticket: Ticket) -> dict[str, Any]:
    return {
        "ticket_id": ticket.ticket_id,
        "queue": ticket.queue,
        "delivered": False,
        "ticket": ticket.to_dict(),
    }


class ActionAnalyseTurn(UsesHandoffServices, Action):
    """After every user message: the customer's language, mood, and whether to escalate."""

    def name(self) -> str:
        return "action_analyse_turn"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        analysis = analyse(tracker, self.services.config)
        values: dict[str, Any] = {"language": analysis.language, "sentiment_trend": analysis.trend}
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
        """Retry a ticket Redis refused earlier; idempotent, so a background retry that got
        there first makes this a no-op."""
        ticket = _pending_ticket(tracker)
        if ticket is None:
            return []
        try:
            submission = await self.services.queues.submit(ticket)
        except QueueUnavailableError:
            return []  # still down: the next message tries again
        except QueueError as error:
            logger.error(
                "Ticket kept in conversation %s cannot be delivered: %s", tracker.sender_id, error
            )
            return []
        return [SlotSet("handoff_ticket", _delivered(submission))]


class ActionHandoff(UsesHandoffServices, Action):
    """Queue the conversation for a human, tell the customer, and pause the bot."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        config = self.services.config
        analysis = analyse(tracker, config)
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
            transcript=ticket_transcript(tracker, config),
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
            record = _pending(ticket)
        else:
            dispatcher.utter_message(
                response="utter_handoff_queued",
                queue=submission.ticket.queue,
                position=submission.position,
                wait_minutes=submission.wait_minutes,
            )
            record = _delivered(submission)
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
