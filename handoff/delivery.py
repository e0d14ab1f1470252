"""Getting a ticket into the queues even when Redis is away: the handoff services of one
action server (configuration, queues, background redeliveries) and the record of a ticket
kept in the conversation (the ``handoff_ticket`` slot) until Redis takes it.

When Redis refuses a ticket it is kept in the tracker and delivered by a background retry or
with the customer's next message, whichever comes first; ticket ids make delivery idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from handoff.config import RoutingConfig
from handoff.errors import InvalidTicketError, QueueError, QueueUnavailableError
from handoff.queues import TicketQueues
from handoff.tickets import Ticket

logger = logging.getLogger(__name__)


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

    async def ensure_delivered(self, record: Any, conversation_id: str) -> dict[str, Any] | None:
        """Make sure the conversation's ticket is in Redis: deliver one Redis refused
        earlier, and resubmit one Redis acknowledged but no longer has (a failover to a
        replica that never got the write). Returns the new slot value, or None when nothing
        changed or Redis is still away (the customer's next message tries again)."""
        kept = kept_ticket(record, conversation_id)
        if kept is None:
            return None
        ticket, delivered = kept
        try:
            if delivered:
                if await self.queues.exists(ticket.ticket_id):
                    return None
                logger.warning(
                    "Ticket %s of conversation %s was acknowledged but Redis no longer has it "
                    "(a failover?); submitting it again.",
                    ticket.ticket_id,
                    conversation_id,
                )
            submission = await self.queues.submit(ticket)
        except QueueUnavailableError:
            return None
        except QueueError as error:
            logger.error(
                "Ticket kept in conversation %s cannot be delivered: %s", conversation_id, error
            )
            return None
        return handoff_record(submission.ticket, delivered=True)

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


def handoff_record(ticket: Ticket, delivered: bool) -> dict[str, Any]:
    """The ``handoff_ticket`` slot's value: which ticket and queue, whether Redis has it, and
    the whole ticket, so it can be delivered again after a restart of this server or a
    Redis failover that lost it."""
    return {
        "ticket_id": ticket.ticket_id,
        "queue": ticket.queue,
        "delivered": delivered,
        "ticket": ticket.to_dict(),
    }


def kept_ticket(record: Any, conversation_id: str) -> tuple[Ticket, bool] | None:
    """(the ticket, whether Redis took it) from a ``handoff_ticket`` slot value; None when
    there is none, or it is malformed (logged: a slot must never break the conversation)."""
    if not (isinstance(record, dict) and isinstance(record.get("ticket"), dict)):
        return None
    try:
        return Ticket.from_dict(record["ticket"]), record.get("delivered") is True
    except InvalidTicketError as error:
        logger.error("Ignoring the malformed handoff_ticket of %s: %s", conversation_id, error)
        return None
