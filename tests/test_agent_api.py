"""The agent API and CLI against a real Redis and a recording stand-in for Rasa's HTTP API.

The stand-in only records what the API asks Rasa to do and serves a tracker; what Rasa then
does with it (the customer seeing the message, the bot resuming) is covered end to end by
tests/test_handoff_e2e.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.agent import cli as agent_cli
from bot.agent.api import MissingTokenError, create_app
from bot.supervisor import RedisServer
from handoff.config import RoutingConfig
from handoff.queues import TicketQueues
from handoff.tickets import AGENT_METADATA_KEY, Ticket

pytest_plugins = ["tests.redis_server"]
pytestmark = [pytest.mark.redis, pytest.mark.anyio]

TOKEN = "s3cret-agent-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class RecordingRasa:
    """Serves `GET .../tracker` and records the calls that change a conversation."""

    def __init__(self) -> None:
        self.channel = "socketio"
        self.calls: list[tuple[str, dict[str, str], Any]] = []
        self.app = web.Application()
        self.app.router.add_get("/conversations/{conv}/tracker", self.tracker)
        self.app.router.add_post("/conversations/{conv}/tracker/events", self.record)
        self.app.router.add_post("/conversations/{conv}/execute", self.record)

    async def tracker(self, request: web.Request) -> web.Response:
        events = [
            {"event": "user", "text": "Wo bleibt mein Paket?!", "timestamp": 1.0},
            {"event": "bot", "text": "Ich verbinde Sie ...", "timestamp": 2.0},
            {"event": "user", "text": "Hallo?", "timestamp": 3.0},
        ]
        return web.json_response(
            {
                "sender_id": request.match_info["conv"],
                "latest_input_channel": self.channel,
                "events": events,
            }
        )

    async def record(self, request: web.Request) -> web.Response:
        self.calls.append((request.path, dict(request.query), await request.json()))
        return web.json_response({})


def config_for(url: str) -> RoutingConfig:
    config = RoutingConfig()
    handoff = dataclasses.replace(config.handoff, redis_url=url, redis_timeout_seconds=1)
    return dataclasses.replace(config, handoff=handoff)


@pytest.fixture
async def rasa() -> AsyncIterator[tuple[RecordingRasa, str]]:
    recording = RecordingRasa()
    server = TestServer(recording.app)
    await server.start_server()
    yield recording, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def queues(redis_url: str) -> AsyncIterator[TicketQueues]:
    queues = TicketQueues.from_config(config_for(redis_url))
    yield queues
    await queues.aclose()


@pytest.fixture
async def api(redis_url: str, rasa: tuple[RecordingRasa, str]) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(config_for(redis_url), TOKEN, rasa[1])))
    await client.start_server()
    yield client
    await client.close()


async def escalate(queues: TicketQueues, conversation: str = "conv-1") -> Ticket:
    ticket = Ticket(
        ticket_id=Ticket.new_id(),
        conversation_id=conversation,
        queue="agents_de",
        priority=2,
        reason="The customer is angry.",
        language="de",
    )
    return (await queues.submit(ticket)).ticket


def agent(name: str) -> dict[str, str]:
    return {**AUTH, "X-Agent": name}


async def test_refuses_to_run_without_a_token(redis_url: str, monkeypatch) -> None:
    with pytest.raises(MissingTokenError, match="LINGODESK_AGENT_TOKEN"):
        create_app(config_for(redis_url), None)
    monkeypatch.delenv("LINGODESK_AGENT_TOKEN", raising=False)
    from bot.agent.api import main

    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2


async def test_requests_without_the_token_are_refused(api: TestClient) -> None:
    assert (await api.get("/health")).status == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = await api.get("/queues", headers=headers)
        assert answer.status == 401
        assert "token" in (await answer.json())["error"]


async def test_an_agent_works_a_ticket_on_a_push_channel(
    api: TestClient, queues: TicketQueues, rasa: tuple[RecordingRasa, str]
) -> None:
    recording, _ = rasa
    ticket = await escalate(queues)
    listed = {
        q["queue"]: q for q in (await (await api.get("/queues", headers=AUTH)).json())["queues"]
    }
    assert listed["agents_de"]["waiting"] == 1 and listed["agents_es"]["waiting"] == 0

    claimed = await api.post("/queues/agents_de/claim", headers=agent("ana"))
    assert (await claimed.json())["ticket"]["ticket_id"] == ticket.ticket_id
    assert (await api.post("/queues/agents_de/claim", headers=agent("bruno"))).status == 204

    context = await (await api.get(f"/tickets/{ticket.ticket_id}", headers=agent("ana"))).json()
    assert context["ticket"]["reason"] == "The customer is angry."
    assert context["ticket"]["priority_name"] == "high"
    assert [line["sender"] for line in context["conversation"]] == ["user", "bot", "user"]

    answer = await api.post(
        f"/tickets/{ticket.ticket_id}/reply",
        headers=agent("ana"),
        json={"text": "Hallo, hier ist Ana."},
    )
    assert (await answer.json()) == {"delivery": "pushed"}
    path, query, events = recording.calls[-1]
    assert path == "/conversations/conv-1/tracker/events"
    assert query == {"output_channel": "latest", "execute_side_effects": "true"}
    assert events == [
        {
            "event": "bot",
            "text": "Hallo, hier ist Ana.",
            "metadata": {AGENT_METADATA_KEY: "ana", "ticket_id": ticket.ticket_id},
            # What makes the chat widget show it as the agent's message.
            "data": {"custom": {"lingodesk": {"kind": "agent_message", "agent": "ana"}}},
        }
    ]

    closed = await api.post(f"/tickets/{ticket.ticket_id}/close", headers=agent("ana"))
    assert (await closed.json())["ticket"]["status"] == "closed"
    (say_back, query, body), (resume, _, events) = recording.calls[-2:]
    assert (say_back, query, body) == (
        "/conversations/conv-1/execute",
        {"output_channel": "latest"},
        {"name": "utter_bot_back"},
    )
    assert resume == "/conversations/conv-1/tracker/events"
    assert [e["event"] for e in events] == ["resume", "slot", "slot", "slot", "action"]
    assert events[-1]["name"] == "action_listen"
    assert await queues.redis.get("{lingodesk}:conversation:conv-1") is None


async def test_on_the_rest_channel_messages_wait_for_the_customers_next_turn(
    api: TestClient, queues: TicketQueues, rasa: tuple[RecordingRasa, str]
) -> None:
    recording, _ = rasa
    recording.channel = "rest"
    ticket = await escalate(queues)
    await api.post("/queues/agents_de/claim", headers=agent("ana"))
    answer = await api.post(
        f"/tickets/{ticket.ticket_id}/reply", headers=agent("ana"), json={"text": "Hallo!"}
    )
    assert (await answer.json()) == {"delivery": "next_turn"}
    await api.post(f"/tickets/{ticket.ticket_id}/close", headers=agent("ana"))
    assert await queues.pending_outbox("conv-1") == [
        {"text": "Hallo!", "agent": "ana", "ticket_id": ticket.ticket_id},
        {"response": "utter_bot_back"},
    ]
    assert [path for path, _, _ in recording.calls] == ["/conversations/conv-1/tracker/events"]


async def test_errors_are_clear(
    api: TestClient, queues: TicketQueues, redis_server: RedisServer
) -> None:
    async def error(answer) -> tuple[int, str]:
        return answer.status, (await answer.json())["error"]

    status, message = await error(await api.post("/queues/agents_xx/claim", headers=agent("ana")))
    assert status == 404 and "unknown queue 'agents_xx'" in message
    ticket = await escalate(queues)
    await api.post("/queues/agents_de/claim", headers=agent("ana"))
    status, message = await error(
        await api.post(
            f"/tickets/{ticket.ticket_id}/reply", headers=agent("bruno"), json={"text": "Hi"}
        )
    )
    assert status == 409 and "claimed by ana" in message
    bad_body = await api.post(
        f"/tickets/{ticket.ticket_id}/reply", headers=agent("ana"), data="not json"
    )
    assert (await error(bad_body))[0] == 400
    no_agent = await api.post("/queues/agents_de/claim", headers=AUTH)
    assert (await error(no_agent)) == (
        400,
        "the X-Agent header must name the agent (letters, digits, _.@-)",
    )
    assert (await api.get("/tickets/nope", headers=agent("ana"))).status == 404
    redis_server.stop()
    try:
        status, message = await error(await api.get("/queues", headers=AUTH))
    finally:
        redis_server.start()
    assert status == 503 and "Redis is unreachable" in message


async def test_rasa_unreachable_is_a_bad_gateway(redis_url: str, queues: TicketQueues) -> None:
    app = create_app(config_for(redis_url), TOKEN, "http://127.0.0.1:9")
    async with TestClient(TestServer(app)) as client:
        ticket = await escalate(queues)
        await client.post("/queues/agents_de/claim", headers=agent("ana"))
        answer = await client.post(f"/tickets/{ticket.ticket_id}/close", headers=agent("ana"))
        assert answer.status == 502 and "Rasa is unreachable" in (await answer.json())["error"]
        # the ticket is closed; closing again retries the hand-back (and fails the same way)
        assert (
            await client.post(f"/tickets/{ticket.ticket_id}/close", headers=agent("ana"))
        ).status == 502


async def test_cli(api: TestClient, queues: TicketQueues, monkeypatch, capsys) -> None:
    ticket = await escalate(queues)
    url = str(api.make_url("")).rstrip("/")

    async def cli(*args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(agent_cli.main, ["--url", url, "--agent", "ana", *args])
        out, err = capsys.readouterr()
        return code, out, err

    monkeypatch.setenv("LINGODESK_AGENT_TOKEN", TOKEN)
    code, out, _ = await cli("queues")
    assert code == 0 and "agents_de" in out and out.splitlines()[0].startswith("queue")
    code, out, _ = await cli("claim", "agents_de")
    assert code == 0 and ticket.ticket_id in out
    code, out, _ = await cli("claim", "agents_de")
    assert out.strip() == "Queue agents_de is empty."
    code, _, err = await cli("reply", "no-such-ticket", "Hallo")
    assert code == 1 and "404" in err
    assert (await cli("close", ticket.ticket_id))[0] == 0
    monkeypatch.delenv("LINGODESK_AGENT_TOKEN")
    with pytest.raises(SystemExit):
        await cli("queues")
