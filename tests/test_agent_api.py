"""The agent API and its CLIs against a real Redis and a recording stand-in for Rasa's HTTP
API (tests/agents.py), served in-process. The attacks run against a real API process in
tests/test_agent_security.py."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import cli as lingodesk_cli
from bot.agent.api import ApiSettings, create_app
from bot.supervisor import RedisServer
from handoff.queues import TicketQueues
from handoff.tickets import AGENT_METADATA_KEY
from tests.agents import PASSWORD, RecordingRasa, add_account, bearer, config_for, escalate
from tests.conftest import REPO_ROOT

pytest_plugins = ["tests.redis_server"]
pytestmark = [pytest.mark.redis, pytest.mark.anyio]


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


async def serve(redis_url: str, rasa_url: str) -> TestClient:
    settings = ApiSettings(rasa_url=rasa_url, domain=REPO_ROOT / "domain.yml")
    app = create_app(config_for(redis_url), settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def api(redis_url: str, rasa: tuple[RecordingRasa, str]) -> AsyncIterator[TestClient]:
    client = await serve(redis_url, rasa[1])
    yield client
    await client.close()


async def error(answer: Any) -> tuple[int, str]:
    return answer.status, (await answer.json())["error"]


async def test_an_agent_works_a_ticket_on_a_push_channel(
    api: TestClient, queues: TicketQueues, rasa: tuple[RecordingRasa, str], redis_url: str
) -> None:
    recording, _ = rasa
    ana = bearer(await add_account(redis_url, "ana", "agent", "agents_de"))
    bruno = bearer(await add_account(redis_url, "bruno", "agent", "agents_de"))
    ticket = await escalate(queues)
    listed = {
        q["queue"]: q for q in (await (await api.get("/queues", headers=ana)).json())["queues"]
    }
    assert list(listed) == ["agents_de"] and listed["agents_de"]["waiting"] == 1

    claimed = await api.post("/queues/agents_de/claim", headers=ana)
    assert (await claimed.json())["ticket"]["ticket_id"] == ticket.ticket_id
    assert (await api.post("/queues/agents_de/claim", headers=bruno)).status == 204

    context = await (await api.get(f"/tickets/{ticket.ticket_id}", headers=ana)).json()
    assert context["ticket"]["reason"] == "The customer is angry."
    assert context["ticket"]["priority_name"] == "high"
    assert [line["sender"] for line in context["conversation"]] == ["user", "bot", "user"]
    assert [(h["who"], h["action"]) for h in context["history"]] == [("ana", "claim")]

    answer = await api.post(
        f"/tickets/{ticket.ticket_id}/reply", headers=ana, json={"text": "Hallo, hier ist Ana."}
    )
    assert (await answer.json()) == {"delivery": "pushed"}
    path, query, events = recording.changes()[-1]
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

    closed = await api.post(f"/tickets/{ticket.ticket_id}/close", headers=ana)
    assert (await closed.json())["ticket"]["status"] == "closed"
    (say_back, query, body), (resume, _, events) = recording.changes()[-2:]
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
    api: TestClient, queues: TicketQueues, rasa: tuple[RecordingRasa, str], redis_url: str
) -> None:
    recording, _ = rasa
    recording.channel = "rest"
    ana = bearer(await add_account(redis_url, "ana", "agent", "agents_de"))
    ticket = await escalate(queues)
    await api.post("/queues/agents_de/claim", headers=ana)
    answer = await api.post(
        f"/tickets/{ticket.ticket_id}/reply", headers=ana, json={"text": "Hallo!"}
    )
    assert (await answer.json()) == {"delivery": "next_turn"}
    await api.post(f"/tickets/{ticket.ticket_id}/close", headers=ana)
    assert await queues.pending_outbox("conv-1") == [
        {"text": "Hallo!", "agent": "ana", "ticket_id": ticket.ticket_id},
        {"response": "utter_bot_back"},
    ]
    assert [path for path, _, _ in recording.changes()] == ["/conversations/conv-1/tracker/events"]


async def test_transfer_with_a_note_and_a_supervisors_reassignment(
    api: TestClient, queues: TicketQueues, redis_url: str
) -> None:
    ana = bearer(await add_account(redis_url, "ana", "agent", "agents_de"))
    gianni = bearer(await add_account(redis_url, "gianni", "agent", "agents_it"))
    await add_account(redis_url, "giulia", "agent", "agents_it")
    carla = bearer(await add_account(redis_url, "carla", "supervisor"))
    ticket = await escalate(queues)
    await api.post("/queues/agents_de/claim", headers=ana)
    moved = await api.post(
        f"/tickets/{ticket.ticket_id}/transfer",
        headers=ana,
        json={"queue": "agents_it", "note": "Scrive in italiano."},
    )
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["ticket"]["queue"] == "agents_it"
    # Ana no longer sees it; the Italian team does.
    assert (await api.get(f"/tickets/{ticket.ticket_id}", headers=ana)).status == 403
    waiting = await (await api.get("/queues/agents_it/tickets", headers=gianni)).json()
    assert [t["ticket_id"] for t in waiting["tickets"]] == [ticket.ticket_id]
    # An agent may not reassign; a supervisor may, only to someone of the queue's team.
    refused = await api.post(
        f"/tickets/{ticket.ticket_id}/reassign", headers=gianni, json={"agent": "gianni"}
    )
    assert refused.status == 403
    wrong_team = await api.post(
        f"/tickets/{ticket.ticket_id}/reassign", headers=carla, json={"agent": "ana"}
    )
    assert await error(wrong_team) == (400, "'ana' is not an account that works agents_it")
    given = await api.post(
        f"/tickets/{ticket.ticket_id}/reassign", headers=carla, json={"agent": "giulia"}
    )
    assert (await given.json())["ticket"]["agent"] == "giulia"
    history = (await (await api.get(f"/tickets/{ticket.ticket_id}", headers=carla)).json())[
        "history"
    ]
    assert [(h["who"], h["action"], h.get("detail", h.get("account"))) for h in history] == [
        ("ana", "claim", None),
        ("ana", "transfer", "from agents_de: Scrive in italiano."),
        ("carla", "reassign", "giulia"),
    ]


async def test_errors_are_clear_and_leak_nothing(
    api: TestClient, queues: TicketQueues, redis_server: RedisServer, redis_url: str
) -> None:
    ana = bearer(await add_account(redis_url, "ana", "agent", "agents_de"))
    bruno = bearer(await add_account(redis_url, "bruno", "agent", "agents_de"))
    status, message = await error(await api.post("/queues/agents_xx/claim", headers=ana))
    assert status == 404 and "unknown queue 'agents_xx'" in message
    ticket = await escalate(queues)
    await api.post("/queues/agents_de/claim", headers=ana)
    status, message = await error(
        await api.post(f"/tickets/{ticket.ticket_id}/reply", headers=bruno, json={"text": "Hi"})
    )
    assert (status, message) == (409, "you do not hold this ticket: another agent has claimed it")
    assert "ana" not in message
    bad_body = await api.post(f"/tickets/{ticket.ticket_id}/reply", headers=ana, data="not json")
    assert (await error(bad_body))[0] == 400
    empty = await api.post(f"/tickets/{ticket.ticket_id}/reply", headers=ana, json={"text": " "})
    assert await error(empty) == (400, '"text" must be a non-empty string')
    huge = await api.post(
        f"/tickets/{ticket.ticket_id}/reply", headers=ana, json={"text": "x" * 70_000}
    )
    assert (await error(huge))[0] == 400
    assert (await api.get("/tickets/nope", headers=ana)).status == 404
    assert (await api.get("/queues")).status == 401
    redis_server.stop()
    try:
        status, message = await error(await api.get("/queues", headers=ana))
    finally:
        redis_server.start()
    assert (status, message) == (503, "the ticket store is unavailable; try again shortly")


async def test_a_close_retried_after_rasa_failed_completes_the_hand_back_once(
    redis_url: str, queues: TicketQueues, rasa: tuple[RecordingRasa, str]
) -> None:
    recording, rasa_url = rasa
    ana = bearer(await add_account(redis_url, "ana", "agent", "agents_de"))
    ticket = await escalate(queues)
    rasa_down = await serve(redis_url, "http://127.0.0.1:9")
    try:
        await rasa_down.post("/queues/agents_de/claim", headers=ana)
        answer = await rasa_down.post(f"/tickets/{ticket.ticket_id}/close", headers=ana)
        assert await error(answer) == (502, "Rasa is unreachable; try again shortly")
    finally:
        await rasa_down.close()
    assert (await queues.get(ticket.ticket_id)).status == "closed"
    rasa_up = await serve(redis_url, rasa_url)
    try:
        retried = await rasa_up.post(f"/tickets/{ticket.ticket_id}/close", headers=ana)
        assert (await retried.json())["delivery"] == "pushed"
        assert [path for path, _, _ in recording.changes()] == [
            "/conversations/conv-1/execute",
            "/conversations/conv-1/tracker/events",
        ]
        again = await rasa_up.post(f"/tickets/{ticket.ticket_id}/close", headers=ana)
        assert (await again.json())["delivery"] == "none"
        assert len(recording.changes()) == 2  # nothing sent twice
    finally:
        await rasa_up.close()


async def test_login_cookie_and_logout(api: TestClient, redis_url: str) -> None:
    await add_account(redis_url, "ana", "agent", "agents_de")
    wrong = await api.post("/login", json={"name": "ana", "password": "nope"})
    assert await error(wrong) == (401, "wrong name or password")
    answer = await api.post("/login", json={"name": "ana", "password": PASSWORD})
    assert (await answer.json())["account"]["name"] == "ana"
    cookie = answer.cookies["lingodesk_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert (await (await api.get("/me")).json())["account"]["teams"] == ["agents_de"]
    origin = {"Origin": str(api.make_url("")).rstrip("/")}
    assert (await api.post("/logout", headers=origin)).status == 200
    assert (await api.get("/me")).status == 401


async def test_desk_cli(
    api: TestClient, queues: TicketQueues, redis_url: str, monkeypatch, capsys
) -> None:
    ticket = await escalate(queues)
    url = str(api.make_url("")).rstrip("/")

    async def desk(*args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(lingodesk_cli.main, ["desk", "--url", url, *args])
        out, err = capsys.readouterr()
        return code, out, err

    monkeypatch.setenv(
        "LINGODESK_AGENT_TOKEN", await add_account(redis_url, "ana", "agent", "agents_de")
    )
    code, out, _ = await desk("queues")
    assert code == 0 and "agents_de" in out and out.splitlines()[0].startswith("queue")
    code, out, _ = await desk("claim", "agents_de")
    assert code == 0 and ticket.ticket_id in out
    code, out, _ = await desk("claim", "agents_de")
    assert out.strip() == "Queue agents_de is empty."
    code, _, err = await desk("reply", "no-such-ticket", "Hallo")
    assert code == 1 and "404" in err
    code, _, err = await desk("claim", "agents_it")
    assert code == 1 and "403" in err
    assert (await desk("close", ticket.ticket_id))[0] == 0
    monkeypatch.delenv("LINGODESK_AGENT_TOKEN")
    with pytest.raises(SystemExit):
        await desk("queues")


def test_lingodesk_agents_manages_accounts_and_reads_the_audit(
    redis_url: str, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("LINGODESK_REDIS_URL", redis_url)

    def agents(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = lingodesk_cli.main(["agents", *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = agents("add", "ana", "--team", "agents_de", "--password-stdin", stdin=PASSWORD)
    assert code == 0 and "Added agent ana (teams: agents_de)" in out
    code, _, err = agents("add", "bo", "--password-stdin", stdin="short\n")
    assert code == 1 and "at least 12" in err
    code, out, _ = agents("token", "ana")
    token = out.splitlines()[0]
    assert code == 0 and token.startswith("ldk_")
    code, out, _ = agents("list")
    assert "ana" in out and "agents_de" in out and "active" in out
    code, out, _ = agents("revoke", "ana")
    assert code == 0 and "Ended 1 credential(s) of ana." in out
    code, _, err = agents("remove", "nobody")
    assert code == 1 and "no account 'nobody'" in err
    code, out, _ = agents("audit")
    assert [line.split()[3] for line in out.splitlines()] == [
        "account_added", "token_issued", "credentials_revoked",
    ]  # fmt: skip
    assert all(line.split()[2].startswith("operator:") for line in out.splitlines())


async def test_unknown_routes_and_methods_need_a_credential_too(api: TestClient) -> None:
    for method, path in (("GET", "/nowhere"), ("DELETE", "/queues"), ("GET", "/accounts")):
        assert (await api.request(method, path)).status == 401


async def test_the_console_view_of_a_ticket_notes_and_canned_replies(
    api: TestClient, queues: TicketQueues, rasa: tuple[RecordingRasa, str], redis_url: str
) -> None:
    recording, _ = rasa
    ana = bearer(await add_account(redis_url, "ana", "agent", "agents_de"))
    ticket = await escalate(queues)
    await api.post("/queues/agents_de/claim", headers=ana)
    note = await api.post(
        f"/tickets/{ticket.ticket_id}/notes", headers=ana, json={"text": "Stammkundin, VIP"}
    )
    assert note.status == 201
    view = await (await api.get(f"/tickets/{ticket.ticket_id}", headers=ana)).json()
    assert [(n["who"], n["text"]) for n in view["notes"]] == [("ana", "Stammkundin, VIP")]
    assert [h["action"] for h in view["history"]] == ["claim", "note"]
    first = view["conversation"][0]
    assert (first["intent"], first["confidence"], first["polarity"], first["anger"]) == (
        "order_status", 0.912, -0.85, 0.81,
    )  # fmt: skip
    assert "intent" not in view["conversation"][1]  # the bot's line
    assert recording.changes() == []  # a private note never goes to Rasa

    canned = await (await api.get("/canned?language=es", headers=ana)).json()
    replies = {r["name"]: r for r in canned["replies"]}
    assert replies["utter_bot_back"]["text"].startswith("Ya estoy de vuelta")
    assert replies["utter_bot_back"]["language"] == "es"
    italian = {
        r["name"]: r
        for r in (await (await api.get("/canned?language=it", headers=ana)).json())["replies"]
    }
    assert italian["utter_bot_back"]["language"] == "en"  # no Italian text: the fallback
    assert (await api.get("/canned?language=../x", headers=ana)).status == 400


async def test_live_events_carry_the_queues_and_the_open_ticket(
    api: TestClient, queues: TicketQueues, redis_url: str
) -> None:
    ana = bearer(await add_account(redis_url, "ana", "agent", "agents_de"))
    ticket = await escalate(queues)
    received: dict[str, Any] = {}
    async with api.get(f"/events?ticket={ticket.ticket_id}", headers=ana) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        event = None
        while len(received) < 2:
            line = (await asyncio.wait_for(stream.content.readline(), 10)).decode().strip()
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                received[event] = json.loads(line[6:])
    (queue,) = received["queues"]["queues"]
    assert queue["queue"] == "agents_de"
    assert [t["ticket_id"] for t in queue["tickets"]] == [ticket.ticket_id]
    assert received["ticket"]["ticket"]["ticket_id"] == ticket.ticket_id
    assert received["ticket"]["conversation"][0]["text"] == "Wo bleibt mein Paket?!"


async def test_the_console_page_is_served_with_a_strict_content_policy(api: TestClient) -> None:
    home = await api.get("/", allow_redirects=False)
    assert home.status == 302 and home.headers["Location"] == "/console/index.html"
    page = await api.get("/console/index.html")
    assert page.status == 200 and "Sign in" in await page.text()
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert (await api.get("/console/../accounts")).status in (401, 403, 404)
