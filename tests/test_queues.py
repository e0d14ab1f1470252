"""The handoff queues against a real Redis server."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import redis

from bot.supervisor import RedisServer
from handoff.config import RoutingConfig
from handoff.errors import (
    InvalidTicketError,
    NotTicketOwnerError,
    QueueError,
    QueueUnavailableError,
    TicketNotFoundError,
    UnknownQueueError,
)
from handoff.queues import TicketQueues
from handoff.tickets import Ticket

if TYPE_CHECKING:
    from tests.redis_server import FlakyLink

pytest_plugins = ["tests.redis_server"]
pytestmark = [pytest.mark.redis, pytest.mark.anyio]

CLAIM_TIMEOUT = 1.0


def config_for(url: str) -> RoutingConfig:
    config = RoutingConfig()
    handoff = dataclasses.replace(
        config.handoff, redis_url=url, claim_timeout_seconds=CLAIM_TIMEOUT, redis_timeout_seconds=1
    )
    return dataclasses.replace(config, handoff=handoff)


def ticket(conversation: str, queue: str = "agents_de", **fields) -> Ticket:
    values = {
        "ticket_id": Ticket.new_id(),
        "conversation_id": conversation,
        "queue": queue,
        "priority": 1,
        "reason": "The customer is angry: negative sentiment in 2 of the last 2 messages.",
        "language": "de",
        "sentiment_trend": [{"label": "negative", "polarity": -0.8}],
        "transcript": [{"sender": "user", "text": "Wo bleibt mein Paket?!", "timestamp": 1.0}],
        "entities": {"order_number": "LD-482913"},
        **fields,
    }
    return Ticket(**values)


@pytest.fixture
async def queues(redis_url: str) -> AsyncIterator[TicketQueues]:
    queues = TicketQueues.from_config(config_for(redis_url))
    yield queues
    await queues.aclose()


async def clients(url: str, count: int) -> list[TicketQueues]:
    """Separate clients (own connection pools), as separate action servers or agents have."""
    return [TicketQueues.from_config(config_for(url)) for _ in range(count)]


def queue_length(redis_at: str | redis.Redis, queue: str) -> int:
    """Tickets in the queue, waiting or in work (``redis_at``: a URL or a client)."""
    if isinstance(redis_at, str):
        with redis.Redis.from_url(redis_at) as client:
            return queue_length(client, queue)
    return redis_at.zcard(f"{{lingodesk}}:waiting:{queue}") + redis_at.zcard(
        f"{{lingodesk}}:claimed:{queue}"
    )


def conversation_pointer(url: str, conversation: str) -> str | None:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return client.get(f"{{lingodesk}}:conversation:{conversation}")


async def test_a_ticket_carries_its_context(queues: TicketQueues, redis_url: str) -> None:
    original = ticket("conv-1", priority=2)
    submission = await queues.submit(original)
    assert submission.outcome == "created"
    assert (submission.position, submission.wait_minutes) == (1, 6)
    stored = submission.ticket
    for name in (
        "ticket_id",
        "conversation_id",
        "queue",
        "priority",
        "reason",
        "language",
        "sentiment_trend",
        "transcript",
        "entities",
        "created_at",
    ):
        assert getattr(stored, name) == getattr(original, name), name
    assert stored.status == "waiting" and queue_length(redis_url, "agents_de") == 1
    assert conversation_pointer(redis_url, "conv-1") == original.ticket_id


async def test_concurrent_escalations_of_one_conversation_give_one_ticket(redis_url: str) -> None:
    servers = await clients(redis_url, 20)
    tickets = [ticket("conv-race", priority=i % 4) for i in range(20)]
    results = await asyncio.gather(*(s.submit(t) for s, t in zip(servers, tickets)))
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["created"] + ["updated"] * 19
    assert len({r.ticket.ticket_id for r in results}) == 1
    assert queue_length(redis_url, "agents_de") == 1
    final = await servers[0].get(results[0].ticket.ticket_id)
    assert final.escalations == 20
    assert final.priority == 3  # the highest priority any escalation asked for
    for server in servers:
        await server.aclose()


async def test_resubmitting_a_ticket_is_idempotent(queues: TicketQueues, redis_url: str) -> None:
    original = ticket("conv-2")
    assert (await queues.submit(original)).outcome == "created"
    again = await queues.submit(original)
    assert again.outcome == "existing"
    assert again.ticket.escalations == 1
    assert queue_length(redis_url, "agents_de") == 1


async def test_two_agents_never_get_the_same_ticket(redis_url: str) -> None:
    setup, *agents = await clients(redis_url, 7)
    submitted = {
        (await setup.submit(ticket(f"conv-{i}", "agents_es"))).ticket.ticket_id for i in range(40)
    }

    async def work(agent: TicketQueues, name: str) -> list[str]:
        taken = []
        while claimed := await agent.claim("agents_es", name):
            taken.append(claimed.ticket_id)
            assert claimed.agent == name and claimed.status == "claimed"
        return taken

    per_agent = await asyncio.gather(*(work(a, f"agent-{i}") for i, a in enumerate(agents)))
    claimed = [t for taken in per_agent for t in taken]
    assert sorted(claimed) == sorted(submitted)  # every ticket exactly once
    for client in [setup, *agents]:
        await client.aclose()


async def test_an_agent_that_vanishes_loses_the_ticket_after_the_timeout(
    queues: TicketQueues,
) -> None:
    await queues.submit(ticket("conv-3", "agents_fr", language="fr"))
    held = await queues.claim("agents_fr", "ana")
    assert held is not None and held.agent == "ana"
    assert await queues.claim("agents_fr", "bruno") is None  # ana is still within the timeout
    await asyncio.sleep(CLAIM_TIMEOUT + 0.3)  # ana's browser crashed: no heartbeat
    taken = await queues.claim("agents_fr", "bruno")
    assert taken is not None and taken.ticket_id == held.ticket_id and taken.agent == "bruno"
    with pytest.raises(NotTicketOwnerError, match="claimed by bruno"):
        await queues.touch(held.ticket_id, "ana")  # ana comes back: too late
    with pytest.raises(NotTicketOwnerError):
        await queues.close(held.ticket_id, "ana")
    closed, changed = await queues.close(held.ticket_id, "bruno")
    assert changed and closed.status == "closed"


async def test_a_heartbeat_keeps_the_ticket(queues: TicketQueues) -> None:
    await queues.submit(ticket("conv-4"))
    held = await queues.claim("agents_de", "ana")
    assert held is not None
    for _ in range(8):  # 1.6 s in all, a heartbeat every fifth of the timeout
        await asyncio.sleep(CLAIM_TIMEOUT / 5)
        await queues.touch(held.ticket_id, "ana")
    assert await queues.claim("agents_de", "bruno") is None


async def test_closing_acknowledges_and_frees_the_conversation(
    queues: TicketQueues, redis_url: str
) -> None:
    first = (await queues.submit(ticket("conv-5"))).ticket
    assert (await queues.claim("agents_de", "ana")).ticket_id == first.ticket_id
    closed, changed = await queues.close(first.ticket_id, "ana")
    assert changed and closed.status == "closed" and closed.closed_at
    assert conversation_pointer(redis_url, "conv-5") is None
    assert queue_length(redis_url, "agents_de") == 0
    assert (await queues.close(first.ticket_id, "ana"))[1] is False  # a retried close is harmless
    # the customer gets angry again later: a new ticket, not an update of the closed one
    second = await queues.submit(ticket("conv-5"))
    assert second.outcome == "created" and second.ticket.ticket_id != first.ticket_id


async def test_a_conversations_open_ticket_is_found_until_it_closes(queues: TicketQueues) -> None:
    assert await queues.open_ticket("conv-9") is None
    opened = (await queues.submit(ticket("conv-9", priority=2))).ticket
    found = await queues.open_ticket("conv-9")
    assert found is not None and (found.ticket_id, found.priority) == (opened.ticket_id, 2)
    await queues.claim("agents_de", "ana")
    assert (await queues.open_ticket("conv-9")).status == "claimed"
    await queues.close(opened.ticket_id, "ana")
    assert await queues.open_ticket("conv-9") is None
    with pytest.raises(QueueError, match="not a conversation id"):
        await queues.open_ticket("../conv-9")


async def test_queue_length_and_waiting_time(queues: TicketQueues) -> None:
    tickets = [(await queues.submit(ticket(f"conv-w{i}", "agents_es"))).ticket for i in range(3)]
    await asyncio.sleep(0.3)
    stats = await queues.stats("agents_es")
    assert (stats.waiting, stats.in_progress) == (3, 0)
    assert stats.oldest_wait_seconds >= 0.3
    await queues.claim("agents_es", "ana")
    stats = await queues.stats("agents_es")
    assert (stats.waiting, stats.in_progress, stats.agents_active) == (2, 1, 1)
    third = await queues.get(tickets[2].ticket_id)
    assert await queues.position(third) == 2
    assert await queues.wait_minutes("agents_es", 2) == 12  # 2 x 6 min, one agent
    listed = {s.queue: s for s in await queues.all_stats()}
    assert listed["agents_es"].waiting == 2 and listed["agents_it"].waiting == 0


async def test_unknown_queues_and_bad_payloads_are_clear_errors(queues: TicketQueues) -> None:
    with pytest.raises(
        UnknownQueueError, match="unknown queue 'agents_xx'; known queues: agents_ar"
    ):
        await queues.submit(ticket("conv-6", "agents_xx"))
    with pytest.raises(UnknownQueueError):
        await queues.claim("nobody", "ana")
    with pytest.raises(InvalidTicketError, match=r"'priority': must be an integer 0\.\.3"):
        await queues.submit(ticket("conv-6", priority=9))
    with pytest.raises(InvalidTicketError, match="'transcript'"):
        await queues.submit(ticket("conv-6", transcript=[{"text": "no sender"}]))
    with pytest.raises(InvalidTicketError, match="'language'"):
        await queues.submit(ticket("conv-6", language="German"))
    with pytest.raises(InvalidTicketError, match="unknown ticket field"):
        Ticket.from_dict({**ticket("conv-6").to_dict(), "colour": "red"})
    with pytest.raises(InvalidTicketError, match="incomplete ticket"):
        Ticket.from_dict({"ticket_id": "abc"})
    with pytest.raises(TicketNotFoundError):
        await queues.touch("no-such-ticket", "ana")


async def test_entries_of_vanished_tickets_are_skipped(
    queues: TicketQueues, redis_url: str
) -> None:
    gone = (await queues.submit(ticket("conv-7"))).ticket
    kept = (await queues.submit(ticket("conv-8"))).ticket
    with redis.Redis.from_url(redis_url) as client:
        client.delete(f"{{lingodesk}}:ticket:{gone.ticket_id}")
    assert (await queues.claim("agents_de", "ana")).ticket_id == kept.ticket_id
    assert queue_length(redis_url, "agents_de") == 1


async def test_redis_stopped_and_restarted_the_ticket_arrives_once(
    queues: TicketQueues, redis_server: RedisServer, redis_url: str
) -> None:
    before = (await queues.submit(ticket("conv-9"))).ticket
    pending = ticket("conv-10")
    redis_server.stop()
    try:
        with pytest.raises(QueueUnavailableError, match="Redis is unreachable"):
            await queues.submit(pending)
    finally:
        redis_server.start()
    assert (await queues.submit(pending)).outcome == "created"
    assert (await queues.submit(pending)).outcome == "existing"
    assert (await queues.get(before.ticket_id)).status == "waiting"  # survived the restart
    assert queue_length(redis_url, "agents_de") == 2


async def test_a_reply_lost_in_flight_is_retried_without_duplicate(
    flaky_link: FlakyLink, redis_url: str
) -> None:
    queues = TicketQueues.from_config(config_for(flaky_link.url()))
    try:
        await queues.submit(ticket("conv-11"))  # loads the script into Redis
        lost = ticket("conv-12")
        flaky_link.drop_reply_to(b"EVALSHA")
        with pytest.raises(QueueUnavailableError):
            await queues.submit(lost)  # Redis created it, the client never heard back
        retried = await queues.submit(lost)
        assert retried.outcome == "existing"
        assert queue_length(redis_url, "agents_de") == 2
    finally:
        await queues.aclose()


async def test_outbox_is_drained_exactly_once(queues: TicketQueues) -> None:
    await queues.push_outbox("conv-13", {"text": "Hola, soy Ana."})
    await queues.push_outbox("conv-13", {"response": "utter_bot_back"})
    assert len(await queues.pending_outbox("conv-13")) == 2
    drained = await asyncio.gather(*(queues.drain_outbox("conv-13") for _ in range(5)))
    assert sorted(len(d) for d in drained) == [0, 0, 0, 0, 2]


async def test_claims_come_urgent_first_then_oldest_first(queues: TicketQueues) -> None:
    """Mixed priorities arriving in random order leave the queue by priority, then by age."""
    import random

    arrivals = [(priority, n) for priority in range(4) for n in range(5)]
    random.Random(7).shuffle(arrivals)
    expected = {}
    for index, (priority, _) in enumerate(arrivals):
        submitted = await queues.submit(
            ticket(f"conv-p{index}", "agents_es", priority=priority, created_at=1000.0 + index)
        )
        expected[submitted.ticket.ticket_id] = (-priority, 1000.0 + index)
    stats = await queues.stats("agents_es")
    assert stats.by_priority == {"low": 5, "normal": 5, "high": 5, "urgent": 5}
    order = []
    while claimed := await queues.claim("agents_es", "ana"):
        order.append(claimed.ticket_id)
    assert order == sorted(expected, key=expected.get)


async def test_a_raised_priority_moves_a_waiting_ticket_up(queues: TicketQueues) -> None:
    first = (await queues.submit(ticket("conv-u1", priority=1))).ticket
    second = (await queues.submit(ticket("conv-u2", priority=1))).ticket
    assert await queues.position(second) == 2
    # the second customer gets angry: the re-escalation raises the open ticket's priority
    await queues.submit(ticket("conv-u2", priority=3))
    assert await queues.position(await queues.get(second.ticket_id)) == 1
    assert (await queues.claim("agents_de", "ana")).ticket_id == second.ticket_id
    assert (await queues.claim("agents_de", "ana")).ticket_id == first.ticket_id


async def test_an_abandoned_urgent_ticket_comes_before_a_waiting_normal_one(
    queues: TicketQueues,
) -> None:
    urgent = (await queues.submit(ticket("conv-a1", priority=3))).ticket
    assert (await queues.claim("agents_de", "ana")).ticket_id == urgent.ticket_id
    normal = (await queues.submit(ticket("conv-a2", priority=1))).ticket
    await asyncio.sleep(CLAIM_TIMEOUT + 0.3)  # ana vanished
    assert (await queues.claim("agents_de", "bruno")).ticket_id == urgent.ticket_id
    assert (await queues.claim("agents_de", "bruno")).ticket_id == normal.ticket_id


async def test_a_transferred_ticket_waits_in_its_new_queue(
    queues: TicketQueues, redis_url: str
) -> None:
    moved = (await queues.submit(ticket("conv-t1", "agents_es", priority=2))).ticket
    held = await queues.claim("agents_es", "ana")
    with pytest.raises(NotTicketOwnerError):
        await queues.transfer(moved.ticket_id, "agents_it", "bruno")  # not bruno's
    transferred = await queues.transfer(held.ticket_id, "agents_it", "ana")
    assert (transferred.queue, transferred.status, transferred.agent) == (
        "agents_it",
        "waiting",
        None,
    )
    assert (transferred.priority, transferred.created_at) == (moved.priority, moved.created_at)
    assert queue_length(redis_url, "agents_es") == 0
    assert (await queues.claim("agents_it", "carla")).ticket_id == moved.ticket_id
    # the customer writes again: the open ticket, now in agents_it, is updated, not duplicated
    again = await queues.submit(ticket("conv-t1", "agents_es", priority=1))
    assert again.outcome == "updated" and again.ticket.queue == "agents_it"
    assert queue_length(redis_url, "agents_es") == 0


async def test_a_supervisor_reassigns_and_may_move_any_ticket(queues: TicketQueues) -> None:
    waiting = (await queues.submit(ticket("conv-r1"))).ticket
    given = await queues.reassign(waiting.ticket_id, "bruno")
    assert (given.status, given.agent) == ("claimed", "bruno")
    assert await queues.claim("agents_de", "ana") is None
    await queues.touch(waiting.ticket_id, "bruno")
    moved = await queues.transfer(waiting.ticket_id, "agents_fr", "sup", any_ticket=True)
    assert moved.queue == "agents_fr" and moved.status == "waiting"
    closed, _ = await queues.close((await queues.claim("agents_fr", "ana")).ticket_id, "ana")
    with pytest.raises(NotTicketOwnerError, match="closed"):
        await queues.reassign(closed.ticket_id, "bruno")


async def test_every_key_has_a_lifetime(queues: TicketQueues, redis_url: str) -> None:
    """Open and closed tickets, pointers and outboxes expire; queue sets are bounded by their
    tickets (entries leave on claim or close)."""
    opened = (await queues.submit(ticket("conv-k1"))).ticket
    await queues.push_outbox("conv-k1", {"text": "hola"})
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        for key in (
            f"{{lingodesk}}:ticket:{opened.ticket_id}",
            "{lingodesk}:conversation:conv-k1",
            "{lingodesk}:outbox:conv-k1",
        ):
            assert 0 < client.ttl(key) <= 30 * 86400, key
        await queues.claim("agents_de", "ana")
        await queues.close(opened.ticket_id, "ana")
        assert client.exists("{lingodesk}:conversation:conv-k1") == 0
        assert 0 < client.ttl(f"{{lingodesk}}:ticket:{opened.ticket_id}") <= 30 * 86400
        assert client.zcard("{lingodesk}:waiting:agents_de") == 0
        assert client.zcard("{lingodesk}:claimed:agents_de") == 0
