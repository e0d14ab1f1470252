"""Private notes on a ticket: what agents tell each other about a customer, never sent to the
customer. Kept in the handoff's Redis beside the ticket (``{prefix}:notes:<ticket id>``, a
list of JSON objects, as long-lived as an open ticket) and recorded in the audit log."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as redis

from handoff.ids import is_ticket_id
from handoff.queues import redis_key
from handoff.redis_errors import translate_redis_errors

MAX_NOTES = 200


class TicketNotes:
    def __init__(self, client: redis.Redis, prefix: str, lifetime_seconds: float) -> None:
        self.redis = client
        self.prefix = prefix
        self.lifetime = max(1, int(lifetime_seconds))

    def _key(self, ticket_id: str) -> str:
        if not is_ticket_id(ticket_id):
            raise ValueError(f"not a ticket id: {ticket_id[:64]!r}")
        return redis_key(self.prefix, "notes", ticket_id)

    @translate_redis_errors
    async def add(self, ticket_id: str, who: str, text: str) -> dict[str, Any]:
        note = {"who": who, "at": round(time.time(), 3), "text": text}
        key = self._key(ticket_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(note, ensure_ascii=False))
            pipe.ltrim(key, -MAX_NOTES, -1)
            pipe.expire(key, self.lifetime)
            await pipe.execute()
        return note

    @translate_redis_errors
    async def of(self, ticket_id: str) -> list[dict[str, Any]]:
        """The ticket's notes, oldest first."""
        return [json.loads(raw) for raw in await self.redis.lrange(self._key(ticket_id), 0, -1)]
