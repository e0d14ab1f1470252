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
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, ParamSpec, TypeVar

import redis.asyncio as redis
from redis import exceptions as redis_errors

from actions.routing import PRIORITIES, HandoffConfig, RoutingConfig

# BotUttered metadata key marking a message an agent wrote (the transcript shows it as such).
AGENT_METADATA_KEY = "lingodesk_agent"

Status = Literal["waiting", "claimed", "closed"]
Outcome = Literal["created", "updated", "existing"]

_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_SENDERS = {"user", "bot", "agent"}


class QueueError(Exception):
    """A handoff queue operation failed; the message says why."""


class QueueUnavailableError(QueueError):
    """Redis cannot be reached: the caller keeps what it wanted to write and retries later."""


class InvalidTicketError(QueueError):
    """A ticket payload is malformed; the message names the field."""


class UnknownQueueError(QueueError):
    """The queue is not in the routing configuration."""


class TicketNotFoundError(QueueError):
    """No ticket has this id (never created, or expired after closing)."""


class NotTicketOwnerError(QueueError):
    """The agent does not hold this ticket (never claimed it, or lost it after the timeout)."""


def check_queue(queue: str, known_queues: Iterable[str]) -> None:
    """Raise `UnknownQueueError`, listing the configured queues, for anything else."""
    known = sorted(known_queues)
    if queue not in known:
        raise UnknownQueueError(f"unknown queue {queue!r}; known queues: {', '.join(known)}")


@dataclass
class Ticket:
    """One customer waiting for (or talking to) a human."""

    ticket_id: str
    conversation_id: str
    queue: str
    priority: int
    reason: str
    language: str
    sentiment_trend: list[dict[str, Any]] = field(default_factory=list)
    # [{"sender": "user" | "bot" | "agent", "text": str, "timestamp": float}], oldest first
    transcript: list[dict[str, Any]] = field(default_factory=list)
    entities: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float | None = None
    status: Status = "waiting"
    agent: str | None = None
    claimed_at: float | None = None
    closed_at: float | None = None
    escalations: int = 1
    stream_id: str | None = None

    _JSON_FIELDS = ("sentiment_trend", "transcript", "entities")

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    @property
    def priority_name(self) -> str:
        return PRIORITIES[self.priority]

    def validate(self, known_queues: Iterable[str]) -> None:
        """Check the payload before it reaches Redis; `InvalidTicketError` names the field."""

        def bad(name: str, why: str) -> InvalidTicketError:
            return InvalidTicketError(f"invalid ticket field {name!r}: {why}")

        for name in ("ticket_id", "conversation_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value) > 256:
                raise bad(name, "must be a non-empty string of at most 256 characters")
        if not _ID.match(self.ticket_id):
            raise bad("ticket_id", "letters, digits and _.:@- only")
        check_queue(self.queue, known_queues)
        if not isinstance(self.priority, int) or not 0 <= self.priority < len(PRIORITIES):
            raise bad("priority", f"must be an integer 0..{len(PRIORITIES) - 1}")
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise bad("reason", "must be a non-empty sentence")
        if not isinstance(self.language, str) or not _LANGUAGE.match(self.language):
            raise bad("language", "must be a language code like 'de' or 'pt-BR'")
        if not isinstance(self.sentiment_trend, list):
            raise bad("sentiment_trend", "must be a list")
        if not isinstance(self.transcript, list) or not all(
            isinstance(m, dict) and m.get("sender") in _SENDERS and isinstance(m.get("text"), str)
            for m in self.transcript
        ):
            raise bad("transcript", "must be a list of {sender: user|bot|agent, text: str}")
        if not isinstance(self.entities, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.entities.items()
        ):
            raise bad("entities", "must map entity names to string values")
        if not isinstance(self.created_at, int | float) or self.created_at <= 0:
            raise bad("created_at", "must be a positive Unix time")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: Any) -> Ticket:
        """Build a ticket from JSON-like data (a slot, an API body); raise on a bad shape."""
        if not isinstance(payload, Mapping):
            raise InvalidTicketError("a ticket must be a JSON object")
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(payload) - names)
        if unknown:
            raise InvalidTicketError(f"unknown ticket field(s): {', '.join(unknown)}")
        try:
            return cls(**payload)
        except TypeError as error:  # a required field is missing
            raise InvalidTicketError(f"incomplete ticket: {error}") from error

    def to_fields(self) -> dict[str, str]:
        """The Redis hash: strings, JSON for the structured fields, no empty optionals."""
        fields = {}
        for name, value in self.to_dict().items():
            if name in self._JSON_FIELDS:
                fields[name] = json.dumps(value, ensure_ascii=False)
            elif value is not None:
                fields[name] = str(value)
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Ticket:
        numbers = {"created_at", "updated_at", "claimed_at", "closed_at"}
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name not in cls.__dataclass_fields__:
                continue
            if name in cls._JSON_FIELDS:
                values[name] = json.loads(value)
            elif name in ("priority", "escalations"):
                values[name] = int(value)
            elif name in numbers:
                values[name] = float(value)
            else:
                values[name] = value
        return cls(**values)


@dataclass(frozen=True)
class Submission:
    """What happened to a submitted ticket, and what to tell the customer."""

    outcome: Outcome
    ticket: Ticket
    position: int  # 1 = next to be claimed; 0 = an agent has it (or it is closed)
    wait_minutes: int


@dataclass(frozen=True)
class QueueStats:
    queue: str
    team: str
    waiting: int
    in_progress: int
    oldest_wait_seconds: float
    agents_active: int


def transcript(events: Iterable[Mapping[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The last `limit` messages of a Rasa tracker's events, as tickets store them."""
    lines = []
    for event in events:
        kind = event.get("event")
        text = event.get("text")
        if kind not in ("user", "bot") or not text:
            continue
        sender = kind
        if kind == "bot" and AGENT_METADATA_KEY in (event.get("metadata") or {}):
            sender = "agent"
        lines.append({"sender": sender, "text": text, "timestamp": event.get("timestamp")})
    return lines[-limit:] if limit > 0 else []


# KEYS: ticket hash, conversation pointer, queue stream.
# ARGV: ticket fields (JSON object of strings), consumer group, key prefix, now.
_SUBMIT = """
local fields = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'existing', fields['ticket_id']}
end
local open_id = redis.call('GET', KEYS[2])
if open_id then
  local open_key = ARGV[3] .. ':ticket:' .. open_id
  if redis.call('EXISTS', open_key) == 1 then
    local priority = math.max(tonumber(redis.call('HGET', open_key, 'priority')),
                              tonumber(fields['priority']))
    redis.call('HSET', open_key, 'priority', priority, 'reason', fields['reason'],
               'transcript', fields['transcript'], 'sentiment_trend', fields['sentiment_trend'],
               'entities', fields['entities'], 'updated_at', ARGV[4])
    redis.call('HINCRBY', open_key, 'escalations', 1)
    return {'updated', open_id}
  end
end
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[3], ARGV[2], '0', 'MKSTREAM')
fields['stream_id'] = redis.call('XADD', KEYS[3], '*', 'ticket_id', fields['ticket_id'])
fields['status'] = 'waiting'
for name, value in pairs(fields) do
  redis.call('HSET', KEYS[1], name, value)
end
redis.call('SET', KEYS[2], fields['ticket_id'])
return {'created', fields['ticket_id']}
"""

# KEYS: queue stream. ARGV: consumer group, agent, claim timeout (ms), key prefix, now.
# First a ticket whose agent went silent for longer than the timeout, then a new one. Stream
# entries of tickets that are gone or closed are acknowledged and dropped on the way.
_CLAIM = """
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local function take(entry)
  if type(entry) ~= 'table' then return nil end
  local ticket_id = entry[2][2]
  local key = ARGV[4] .. ':ticket:' .. ticket_id
  local status = redis.call('HGET', key, 'status')
  if status ~= 'waiting' and status ~= 'claimed' then
    redis.call('XACK', KEYS[1], ARGV[1], entry[1])
    redis.call('XDEL', KEYS[1], entry[1])
    return nil
  end
  redis.call('HSET', key, 'status', 'claimed', 'agent', ARGV[2], 'claimed_at', ARGV[5])
  return ticket_id
end
local cursor = '0-0'
repeat
  local result = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', 1)
  cursor = result[1]
  for _, entry in ipairs(result[2]) do
    local taken = take(entry)
    if taken then return taken end
  end
until cursor == '0-0'
while true do
  local result = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1,
                            'STREAMS', KEYS[1], '>')
  if not result then return false end
  local taken = take(result[1][2][1])
  if taken then return taken end
end
"""

# KEYS: ticket hash, queue stream. ARGV: consumer group, agent.
# Proof of life: resets the idle time of the agent's stream entry, but only while the agent
# still holds the ticket, so a heartbeat never takes a reclaimed ticket back.
_TOUCH = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NO_TICKET') end
local owner = redis.call('HGET', KEYS[1], 'agent') or ''
if status ~= 'claimed' or owner ~= ARGV[2] then
  return redis.error_reply('NOT_OWNER ' .. status .. ' ' .. owner)
end
redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, redis.call('HGET', KEYS[1], 'stream_id'),
           'JUSTID')
return 'ok'
"""

# KEYS: ticket hash, queue stream, conversation pointer. ARGV: group, agent, now, TTL seconds.
_CLOSE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NO_TICKET') end
local owner = redis.call('HGET', KEYS[1], 'agent') or ''
if owner ~= ARGV[2] or status == 'waiting' then
  return redis.error_reply('NOT_OWNER ' .. status .. ' ' .. owner)
end
if status == 'closed' then return 'already_closed' end
local entry = redis.call('HGET', KEYS[1], 'stream_id')
redis.call('XACK', KEYS[2], ARGV[1], entry)
redis.call('XDEL', KEYS[2], entry)
redis.call('HSET', KEYS[1], 'status', 'closed', 'closed_at', ARGV[3])
if redis.call('GET', KEYS[3]) == redis.call('HGET', KEYS[1], 'ticket_id') then
  redis.call('DEL', KEYS[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 'closed'
"""

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
        self._submit = client.register_script(_SUBMIT)
        self._claim = client.register_script(_CLAIM)
        self._touch = client.register_script(_TOUCH)
        self._close = client.register_script(_CLOSE)

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
