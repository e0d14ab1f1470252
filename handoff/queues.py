"""Handoff queues in Redis: tickets, one Redis Stream per queue, one consumer group per team.

Layout (``<p>`` is ``handoff.key_prefix``):

- ``<p>:ticket:<id>``            hash: the ticket (`Ticket.to_fields`), its status and owner
- ``<p>:conversation:<conv id>`` string: the id of the conversation's open ticket
- ``<p>:queue:<queue>``          stream: one entry ``{ticket_id}`` per ticket waiting or in work;
                                 the queue's team reads it with a consumer group
- ``<p>:outbox:<conv id>``       list: agent messages waiting for a pull channel's next turn

Every operation that reads and writes more than one key is a Lua script, so it is atomic:
two escalations of one conversation give one ticket, two agents never claim the same entry,
and a claim never leaves a stream entry delivered to an agent the ticket does not name.
Redis being unreachable surfaces as `QueueUnavailableError`, which callers treat as "keep the
ticket and deliver it later"; resubmitting a ticket id is idempotent, so retries never
duplicate.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as redis
from redis import exceptions as redis_errors

from handoff.config import HandoffConfig, RoutingConfig
from handoff.errors import (
    NotTicketOwnerError,
    QueueError,
    QueueUnavailableError,
    TicketNotFoundError,
    check_queue,
)
from handoff.tickets import QueueStats, Submission, Ticket

# The Lua scripts (handoff/lua/*.lua; each one's header names its KEYS and ARGV).
LUA_DIR = Path(__file__).with_name("lua")


def _lua(name: str) -> str:
    return (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


P = ParamSpec("P")
R = TypeVar("R")


def _translate_errors(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn redis-py's exceptions into this module's, so callers never import redis."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
            raise QueueUnavailableError(f"Redis is unreachable: {error}") from error
        except redis_errors.ResponseError as error:
            message = str(error)
            if message.startswith("NO_TICKET"):
                raise TicketNotFoundError("no such ticket") from error
            if message.startswith("NOT_OWNER"):
                _, status, *owner = message.split(" ")
                holder = f"it is {status}" + (f" by {owner[0]}" if owner and owner[0] else "")
                raise NotTicketOwnerError(f"you do not hold this ticket: {holder}") from error
            raise QueueError(f"Redis refused the operation: {message}") from error

    return wrapper


class TicketQueues:
    """The handoff queues of one routing configuration, over one Redis connection pool."""

    def __init__(self, client: redis.Redis, config: RoutingConfig) -> None:
        self.redis = client
        self.config = config
        self.handoff: HandoffConfig = config.handoff
        self._submit = client.register_script(_lua("submit"))
        self._claim = client.register_script(_lua("claim"))
        self._touch = client.register_script(_lua("touch"))
        self._close = client.register_script(_lua("close"))

    @classmethod
    def from_config(cls, config: RoutingConfig) -> TicketQueues:
        """Connect lazily (the first command connects) to `handoff.redis_url`."""
        timeout = config.handoff.redis_timeout_seconds
        client = redis.Redis.from_url(
            config.handoff.redis_url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        return cls(client, config)

    async def aclose(self) -> None:
        await self.redis.close(close_connection_pool=True)

    # -- keys
    def _key(self, kind: str, name: str) -> str:
        return f"{self.handoff.key_prefix}:{kind}:{name}"

    def _stream(self, queue: str) -> str:
        check_queue(queue, self.config.known_queues)
        return self._key("queue", queue)

    # -- customer side
    @_translate_errors
    async def submit(self, ticket: Ticket) -> Submission:
        """Open a ticket, or update the conversation's open one; idempotent per ticket id.

        `created`: a new ticket entered the queue. `updated`: the conversation already had an
        open ticket (another id); its reason, transcript, trend and entities were refreshed and
        its priority raised if needed. `existing`: this very ticket id is already in Redis (a
        retried delivery), nothing changed.
        """
        ticket.validate(self.config.known_queues)
        fields = ticket.to_fields()
        for name in ("status", "agent", "claimed_at", "closed_at", "stream_id", "updated_at"):
            fields.pop(name, None)
        outcome, ticket_id = await self._submit(
            keys=[
                self._key("ticket", ticket.ticket_id),
                self._key("conversation", ticket.conversation_id),
                self._stream(ticket.queue),
            ],
            args=[
                json.dumps(fields, ensure_ascii=False),
                self.config.queues.team(ticket.queue),
                self.handoff.key_prefix,
                time.time(),
            ],
        )
        stored = await self.get(ticket_id)
        position = await self.position(stored)
        minutes = await self.wait_minutes(stored.queue, position)
        return Submission(outcome, stored, position, minutes)

    @_translate_errors
    async def get(self, ticket_id: str) -> Ticket:
        fields = await self.redis.hgetall(self._key("ticket", ticket_id))
        if not fields:
            raise TicketNotFoundError(f"no ticket {ticket_id!r}")
        return Ticket.from_fields(fields)

    async def _group_state(self, queue: str) -> tuple[str, int]:
        """(last delivered entry id, entries delivered but not acknowledged) of the queue's team."""
        team = self.config.queues.team(queue)
        try:
            groups = await self.redis.xinfo_groups(self._stream(queue))
        except redis_errors.ResponseError:  # no such stream yet: nothing was ever queued
            return "0-0", 0
        for group in groups:
            if group["name"] == team:
                return group["last-delivered-id"], int(group["pending"])
        return "0-0", 0

    async def _waiting(self, queue: str, up_to: str = "+") -> list[tuple[str, dict]]:
        """Entries no agent has claimed yet, oldest first (up to entry id `up_to`)."""
        last_delivered, _ = await self._group_state(queue)
        return await self.redis.xrange(self._stream(queue), min=f"({last_delivered}", max=up_to)

    @_translate_errors
    async def position(self, ticket: Ticket) -> int:
        """1 for the next ticket to be claimed from its queue; 0 once an agent has it."""
        if ticket.status != "waiting" or not ticket.stream_id:
            return 0
        return len(await self._waiting(ticket.queue, up_to=ticket.stream_id))

    @_translate_errors
    async def agents_active(self, queue: str) -> int:
        """Agents of the queue's team seen (claim, heartbeat) within the claim timeout."""
        timeout_ms = self.handoff.claim_timeout_seconds * 1000
        try:
            consumers = await self.redis.xinfo_consumers(
                self._stream(queue), self.config.queues.team(queue)
            )
        except redis_errors.ResponseError:
            return 0
        return sum(int(c["idle"]) < timeout_ms for c in consumers)

    async def wait_minutes(self, queue: str, position: int) -> int:
        """The wait the customer is told: position x minutes per ticket / active agents."""
        if position <= 0:
            return 0
        agents = max(1, await self.agents_active(queue))
        return max(1, math.ceil(position * self.handoff.minutes_per_ticket / agents))

    # -- agent side
    @_translate_errors
    async def claim(self, queue: str, agent: str) -> Ticket | None:
        """The next ticket of `queue` for `agent`: one abandoned past the timeout, else the
        oldest waiting one; None when the queue is empty."""
        ticket_id = await self._claim(
            keys=[self._stream(queue)],
            args=[
                self.config.queues.team(queue),
                agent,
                int(self.handoff.claim_timeout_seconds * 1000),
                self.handoff.key_prefix,
                time.time(),
            ],
        )
        return await self.get(ticket_id) if ticket_id else None

    async def _owned(self, ticket_id: str) -> tuple[Ticket, list[str]]:
        ticket = await self.get(ticket_id)
        return ticket, [self._key("ticket", ticket_id), self._stream(ticket.queue)]

    @_translate_errors
    async def touch(self, ticket_id: str, agent: str) -> Ticket:
        """Heartbeat: `agent` is still working on the ticket (raises if it was lost)."""
        ticket, keys = await self._owned(ticket_id)
        await self._touch(keys=keys, args=[self.config.queues.team(ticket.queue), agent])
        return ticket

    @_translate_errors
    async def close(self, ticket_id: str, agent: str) -> tuple[Ticket, bool]:
        """Acknowledge the ticket as done; (ticket, False) when it was already closed by `agent`."""
        ticket, keys = await self._owned(ticket_id)
        ttl = int(self.handoff.closed_ticket_ttl_days * 86400)
        result = await self._close(
            keys=[*keys, self._key("conversation", ticket.conversation_id)],
            args=[self.config.queues.team(ticket.queue), agent, time.time(), ttl],
        )
        return await self.get(ticket_id), result == "closed"

    @_translate_errors
    async def stats(self, queue: str) -> QueueStats:
        """Queue length (waiting, in progress) and how long the oldest customer has waited."""
        waiting = await self._waiting(queue)
        _, in_progress = await self._group_state(queue)
        oldest = 0.0
        if waiting:
            seconds, microseconds = await self.redis.time()
            now_ms = seconds * 1000 + microseconds / 1000
            oldest = max(0.0, (now_ms - int(waiting[0][0].split("-")[0])) / 1000)
        return QueueStats(
            queue=queue,
            team=self.config.queues.team(queue),
            waiting=len(waiting),
            in_progress=in_progress,
            oldest_wait_seconds=round(oldest, 1),
            agents_active=await self.agents_active(queue),
        )

    async def all_stats(self) -> list[QueueStats]:
        return [await self.stats(queue) for queue in sorted(self.config.known_queues)]

    # -- agent messages for pull channels
    @_translate_errors
    async def push_outbox(self, conversation_id: str, message: Mapping[str, Any]) -> None:
        await self.redis.rpush(
            self._key("outbox", conversation_id), json.dumps(message, ensure_ascii=False)
        )

    @_translate_errors
    async def pending_outbox(self, conversation_id: str) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(self._key("outbox", conversation_id), 0, -1)
        return [json.loads(item) for item in raw]

    @_translate_errors
    async def drain_outbox(self, conversation_id: str) -> list[dict[str, Any]]:
        """Take every waiting message at once (read and delete in one transaction)."""
        key = self._key("outbox", conversation_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            raw, _ = await pipe.lrange(key, 0, -1).delete(key).execute()
        return [json.loads(item) for item in raw]
