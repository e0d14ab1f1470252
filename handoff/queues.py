"""Handoff queues in Redis: tickets waiting per queue, most urgent first, and who holds what.

Layout (``<p>`` is ``handoff.key_prefix``; every key carries the hash tag ``{<p>}``, so all of
them live in one slot of a Redis Cluster and each multi-key script stays on one node):

- ``{<p>}:ticket:<id>`` (hash): the ticket (`Ticket.to_fields`), its status and holder.
  Lifetime: an open ticket ``open_ticket_ttl_days`` from its last escalation, a closed one
  ``closed_ticket_ttl_days``.
- ``{<p>}:conversation:<conv id>`` (string): the id of the conversation's open ticket; lives
  as long as that ticket, deleted when it closes.
- ``{<p>}:waiting:<queue>`` (sorted set): waiting ticket ids, scored by `waiting_score`
  (most urgent first, oldest first within a priority); left on claim, transfer and close.
- ``{<p>}:claimed:<queue>`` (sorted set): claimed ticket ids, scored by the holder's last
  sign of life (ms); left on close and transfer.
- ``{<p>}:agents:<queue>`` (sorted set): agents, scored by their last claim or heartbeat
  (ms); pruned after a day of silence.
- ``{<p>}:handed_back:<id>`` (string): the closed ticket's conversation went back to the bot;
  lives as long as the closed ticket.
- ``{<p>}:outbox:<conv id>`` (list): agent messages waiting for a pull channel's next turn;
  expires ``outbox_ttl_days`` after the last one.

Every operation that reads and writes more than one key is a Lua script in handoff/lua/,
atomic, and declares every key it touches (Redis Cluster and ACLs require it): two
escalations of one conversation give one ticket, two agents never claim the same ticket, a
heartbeat never takes back a reclaimed one. Where a script needs a key it can only learn by
reading (the conversation's open ticket, a ticket's queue), the caller reads it first and the
script checks it is unchanged, else the caller reads again ('retry').

Any Redis failure (unreachable, timeout, a read-only replica after a failover, out of memory,
loading, refused credentials) surfaces as `QueueUnavailableError`, which callers treat as
"keep the ticket and deliver it later"; resubmitting a ticket id is idempotent.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis.asyncio as redis

from handoff.config import PRIORITIES, HandoffConfig, RoutingConfig
from handoff.errors import CorruptTicketError, QueueError, TicketNotFoundError, check_queue
from handoff.ids import is_conversation_id, is_ticket_id
from handoff.redis_errors import translate_redis_errors
from handoff.tickets import QueueStats, Submission, Ticket

LUA_DIR = Path(__file__).with_name("lua")
TOP_PRIORITY = len(PRIORITIES) - 1
RANK_STEP = 1e13  # one priority level in a waiting score (see lua/rank.lua)
# Optimistic scripts ('retry') give up after this many rounds of concurrent changes.
MAX_ROUNDS = 50


def _lua(name: str, shared: tuple[str, ...] = ()) -> str:
    """A script of handoff/lua/, with the shared helpers it uses prepended."""
    parts = [*shared, name]
    return "\n".join((LUA_DIR / f"{part}.lua").read_text(encoding="utf-8") for part in parts)


def redis_key(prefix: str, kind: str, name: str) -> str:
    """``{prefix}:kind:name``: every lingodesk key carries the prefix as one hash tag, so all of
    them (queues, tickets, accounts, audit) live in one Redis Cluster slot and scripts and
    transactions may touch any of them together."""
    return f"{{{prefix}}}:{kind}:{name}"


def waiting_score(priority: int, created_at: float) -> float:
    """The waiting set's score of a ticket (lua/rank.lua computes the same in Redis)."""
    return (TOP_PRIORITY - priority) * RANK_STEP + math.floor(created_at * 1000)


def _checked(ticket_id: str, fields: Mapping[str, str]) -> Ticket:
    """The ticket stored under `ticket_id`, once its ids pass the same checks as on the way
    in: a hash planted or altered in Redis must not steer a URL or a key."""
    try:
        ticket = Ticket.from_fields(fields)
    except (TypeError, ValueError) as error:  # a missing field, bad JSON or number
        raise CorruptTicketError(f"stored ticket {ticket_id!r} is malformed: {error}") from error
    if ticket.ticket_id != ticket_id or not is_ticket_id(ticket.ticket_id):
        raise CorruptTicketError(f"stored ticket {ticket_id!r} holds another ticket id")
    if not is_conversation_id(ticket.conversation_id):
        raise CorruptTicketError(f"stored ticket {ticket_id!r} has a malformed conversation id")
    return ticket


def _now() -> tuple[float, int]:
    """Now as Unix seconds (tickets' times) and milliseconds (the sorted sets' scores)."""
    seconds = time.time()
    return seconds, int(seconds * 1000)


class TicketQueues:
    """The handoff queues of one routing configuration, over one Redis connection pool."""

    def __init__(self, client: redis.Redis, config: RoutingConfig) -> None:
        self.redis = client
        self.config = config
        self.handoff: HandoffConfig = config.handoff
        self._scripts = {
            name: client.register_script(_lua(name, shared))
            for name, shared in (
                ("submit", ("rank",)),
                ("claim", ()),
                ("touch", ()),
                ("close", ()),
                ("transfer", ("rank",)),
                ("reassign", ()),
            )
        }

    @classmethod
    def from_config(cls, config: RoutingConfig) -> TicketQueues:
        """Connect lazily (the first command connects) to `handoff.redis_url` (``rediss://``
        for TLS, ``redis://user:password@`` for an ACL user: see handoff/config_loader.py)."""
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
        return redis_key(self.handoff.key_prefix, kind, name)

    def _queue_keys(self, queue: str, *kinds: str) -> list[str]:
        check_queue(queue, self.config.known_queues)
        return [self._key(kind, queue) for kind in kinds]

    @staticmethod
    def _ticket_id(ticket_id: str) -> str:
        if not is_ticket_id(ticket_id):
            raise TicketNotFoundError(f"no ticket {str(ticket_id)[:64]!r}")
        return ticket_id

    def _ticket_key(self, ticket_id: str) -> str:
        return self._key("ticket", self._ticket_id(ticket_id))

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[name](keys=keys, args=args)

    # -- customer side
    @translate_redis_errors
    async def submit(self, ticket: Ticket) -> Submission:
        """Open a ticket, or update the conversation's open one; idempotent per ticket id.

        `created`: a new ticket entered the queue. `updated`: the conversation already had an
        open ticket (another id); its reason, transcript, trend and entities were refreshed and
        its priority raised if needed (it moves up its queue). `existing`: this very ticket id
        is already in Redis (a retried delivery), nothing changed.
        """
        ticket.validate(self.config.known_queues)
        fields = ticket.to_fields()
        for name in ("status", "agent", "claimed_at", "closed_at", "updated_at"):
            fields.pop(name, None)
        own_key = self._ticket_key(ticket.ticket_id)
        pointer = self._key("conversation", ticket.conversation_id)
        (own_waiting,) = self._queue_keys(ticket.queue, "waiting")
        lifetime = int(self.handoff.open_ticket_ttl_days * 86400)
        for _ in range(MAX_ROUNDS):
            open_id = await self.redis.get(pointer) or ""
            open_queue = (await self.redis.hget(self._key("ticket", open_id), "queue")) or ""
            known = open_id and open_queue in self.config.known_queues
            outcome, ticket_id = await self._run(
                "submit",
                keys=[
                    own_key,
                    pointer,
                    own_waiting,
                    self._key("ticket", open_id) if known else own_key,
                    self._key("waiting", open_queue) if known else own_waiting,
                ],
                args=[
                    json.dumps(fields, ensure_ascii=False),
                    open_id,
                    open_queue,
                    time.time(),
                    lifetime,
                    TOP_PRIORITY,
                ],
            )
            if outcome != "retry":
                break
        else:
            raise QueueError("the conversation's ticket kept changing; try again")
        stored = await self.get(ticket_id)
        position = await self.position(stored)
        minutes = await self.wait_minutes(stored.queue, position)
        return Submission(outcome, stored, position, minutes)

    @translate_redis_errors
    async def get(self, ticket_id: str) -> Ticket:
        fields = await self.redis.hgetall(self._ticket_key(ticket_id))
        if not fields:
            raise TicketNotFoundError(f"no ticket {ticket_id!r}")
        return _checked(ticket_id, fields)

    @translate_redis_errors
    async def exists(self, ticket_id: str) -> bool:
        """Whether Redis still has the ticket (a failover can lose an acknowledged write)."""
        return bool(await self.redis.exists(self._ticket_key(ticket_id)))

    @translate_redis_errors
    async def open_ticket(self, conversation_id: str) -> Ticket | None:
        """The conversation's open (waiting or claimed) ticket, if it has one."""
        if not is_conversation_id(conversation_id):
            raise QueueError(f"not a conversation id: {conversation_id!r}")
        ticket_id = await self.redis.get(self._key("conversation", conversation_id))
        if ticket_id is None:
            return None
        try:
            return await self.get(ticket_id)
        except TicketNotFoundError:  # closed between the two reads
            return None

    @translate_redis_errors
    async def position(self, ticket: Ticket) -> int:
        """1 for the next ticket to be claimed from its queue; 0 once an agent has it."""
        if ticket.status != "waiting":
            return 0
        (waiting,) = self._queue_keys(ticket.queue, "waiting")
        rank = await self.redis.zrank(waiting, ticket.ticket_id)
        return 0 if rank is None else rank + 1

    @translate_redis_errors
    async def agents_active(self, queue: str) -> int:
        """Agents seen on the queue (claim, heartbeat) within the claim timeout."""
        (agents,) = self._queue_keys(queue, "agents")
        _, now_ms = _now()
        since = now_ms - self.handoff.claim_timeout_seconds * 1000
        return await self.redis.zcount(agents, since, "+inf")

    async def wait_minutes(self, queue: str, position: int) -> int:
        """The wait the customer is told: position x minutes per ticket / active agents."""
        if position <= 0:
            return 0
        agents = max(1, await self.agents_active(queue))
        return max(1, math.ceil(position * self.handoff.minutes_per_ticket / agents))

    # -- agent side
    @translate_redis_errors
    async def claim(self, queue: str, agent: str) -> Ticket | None:
        """The next ticket of `queue` for `agent`: the most urgent (then oldest) of the waiting
        tickets and of those whose holder showed no sign of life for the claim timeout; None
        when the queue is empty."""
        keys = self._queue_keys(queue, "waiting", "claimed", "agents")
        timeout_ms = int(self.handoff.claim_timeout_seconds * 1000)
        for _ in range(MAX_ROUNDS):
            now_s, now_ms = _now()
            candidate = await self._next_candidate(queue, now_ms - timeout_ms)
            if candidate is None:
                return None
            result = await self._run(
                "claim",
                keys=[*keys, self._key("ticket", candidate)],
                args=[candidate, agent, now_ms, timeout_ms, now_s],
            )
            if result == "claimed":
                return await self.get(candidate)
        raise QueueError(f"queue {queue} kept changing under the claim; try again")

    async def _next_candidate(self, queue: str, abandoned_before_ms: int) -> str | None:
        """The ticket a claim should take: the best-ranked waiting one, or an abandoned one
        of higher priority (abandoned tickets rank by their own priority and age)."""
        waiting, claimed = self._queue_keys(queue, "waiting", "claimed")
        head = await self.redis.zrange(waiting, 0, 0, withscores=True)
        best = (head[0][1], head[0][0]) if head else None
        for ticket_id in await self.redis.zrangebyscore(claimed, "-inf", abandoned_before_ms):
            priority, created = await self.redis.hmget(
                self._key("ticket", ticket_id), "priority", "created_at"
            )
            if priority is None or created is None:  # vanished: the claim script drops it
                return ticket_id
            score = waiting_score(int(priority), float(created))
            if best is None or score < best[0]:
                best = (score, ticket_id)
        return best[1] if best else None

    async def _located(self, ticket_id: str, *kinds: str) -> tuple[Ticket, list[str]]:
        """The ticket and the keys of its queue's `kinds` sets, as they are now."""
        ticket = await self.get(ticket_id)
        return ticket, [self._ticket_key(ticket_id), *self._queue_keys(ticket.queue, *kinds)]

    @translate_redis_errors
    async def touch(self, ticket_id: str, agent: str) -> Ticket:
        """Heartbeat: `agent` is still working on the ticket (raises if it was lost)."""
        ticket, keys = await self._located(ticket_id, "claimed", "agents")
        await self._run("touch", keys=keys, args=[ticket_id, agent, _now()[1]])
        return ticket

    @translate_redis_errors
    async def close(self, ticket_id: str, agent: str) -> tuple[Ticket, bool]:
        """Done: the ticket leaves its queue; (ticket, False) when `agent` had closed it before."""
        ticket, keys = await self._located(ticket_id, "claimed", "waiting")
        ttl = int(self.handoff.closed_ticket_ttl_days * 86400)
        result = await self._run(
            "close",
            keys=[*keys, self._key("conversation", ticket.conversation_id)],
            args=[ticket_id, agent, time.time(), ttl],
        )
        return await self.get(ticket_id), result == "closed"

    @translate_redis_errors
    async def transfer(
        self, ticket_id: str, queue: str, agent: str, any_ticket: bool = False
    ) -> Ticket:
        """Move a ticket to another queue, where it waits again with its priority and age.
        `agent` must hold it, unless `any_ticket` (a supervisor's move)."""
        (target,) = self._queue_keys(queue, "waiting")
        for _ in range(MAX_ROUNDS):
            ticket, keys = await self._located(ticket_id, "waiting", "claimed")
            result = await self._run(
                "transfer",
                keys=[*keys, target],
                args=[
                    ticket_id, agent, "1" if any_ticket else "0", queue, ticket.queue,
                    time.time(), TOP_PRIORITY,
                ],
            )  # fmt: skip
            if result != "retry":
                return await self.get(ticket_id)
        raise QueueError(f"ticket {ticket_id} kept moving; try again")

    @translate_redis_errors
    async def reassign(self, ticket_id: str, agent: str) -> Ticket:
        """A supervisor gives the ticket (waiting or claimed) to `agent`."""
        for _ in range(MAX_ROUNDS):
            ticket, keys = await self._located(ticket_id, "waiting", "claimed")
            now_s, now_ms = _now()
            result = await self._run(
                "reassign", keys=keys, args=[ticket_id, agent, now_ms, now_s, ticket.queue]
            )
            if result != "retry":
                return await self.get(ticket_id)
        raise QueueError(f"ticket {ticket_id} kept moving; try again")

    @translate_redis_errors
    async def tickets(self, queue: str, state: str = "waiting", limit: int = 50) -> list[Ticket]:
        """Waiting tickets in claim order, or claimed ones, the least recently active first."""
        (ids,) = self._queue_keys(queue, {"waiting": "waiting", "claimed": "claimed"}[state])
        tickets = []
        for ticket_id in await self.redis.zrange(ids, 0, max(0, limit - 1)):
            fields = await self.redis.hgetall(self._key("ticket", ticket_id))
            if fields:
                tickets.append(_checked(ticket_id, fields))
        return tickets

    @translate_redis_errors
    async def stats(self, queue: str) -> QueueStats:
        """Queue length (waiting per priority, in progress) and the oldest customer's wait."""
        waiting, claimed = self._queue_keys(queue, "waiting", "claimed")
        by_priority = {}
        oldest_ms = None
        for level, name in enumerate(PRIORITIES):
            low = (TOP_PRIORITY - level) * RANK_STEP
            band = await self.redis.zrangebyscore(
                waiting, low, f"({low + RANK_STEP}", start=0, num=1, withscores=True
            )
            by_priority[name] = await self.redis.zcount(waiting, low, f"({low + RANK_STEP}")
            if band:
                created_ms = band[0][1] - low
                oldest_ms = created_ms if oldest_ms is None else min(oldest_ms, created_ms)
        oldest = 0.0
        if oldest_ms is not None:
            seconds, microseconds = await self.redis.time()
            oldest = max(0.0, (seconds * 1000 + microseconds / 1000 - oldest_ms) / 1000)
        return QueueStats(
            queue=queue,
            team=self.config.queues.team(queue),
            waiting=sum(by_priority.values()),
            in_progress=await self.redis.zcard(claimed),
            oldest_wait_seconds=round(oldest, 1),
            agents_active=await self.agents_active(queue),
            by_priority=by_priority,
        )

    async def all_stats(self) -> list[QueueStats]:
        return [await self.stats(queue) for queue in sorted(self.config.known_queues)]

    @translate_redis_errors
    async def mark_handed_back(self, ticket_id: str) -> None:
        """Rasa took the closed ticket's conversation back (kept as long as a closed ticket)."""
        ttl = int(self.handoff.closed_ticket_ttl_days * 86400)
        await self.redis.set(self._key("handed_back", self._ticket_id(ticket_id)), 1, ex=ttl)

    @translate_redis_errors
    async def handed_back(self, ticket_id: str) -> bool:
        """Whether the conversation of this closed ticket was handed back to the bot."""
        return bool(await self.redis.exists(self._key("handed_back", self._ticket_id(ticket_id))))

    # -- agent messages for pull channels
    @translate_redis_errors
    async def push_outbox(self, conversation_id: str, message: Mapping[str, Any]) -> None:
        key = self._key("outbox", conversation_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(message, ensure_ascii=False))
            pipe.expire(key, int(self.handoff.outbox_ttl_days * 86400))
            await pipe.execute()

    @translate_redis_errors
    async def pending_outbox(self, conversation_id: str) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(self._key("outbox", conversation_id), 0, -1)
        return [json.loads(item) for item in raw]

    @translate_redis_errors
    async def drain_outbox(self, conversation_id: str) -> list[dict[str, Any]]:
        """Take every waiting message at once (read and delete in one transaction)."""
        key = self._key("outbox", conversation_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            raw, _ = await pipe.lrange(key, 0, -1).delete(key).execute()
        return [json.loads(item) for item in raw]
