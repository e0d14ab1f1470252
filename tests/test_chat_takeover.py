"""Nobody takes over a customer's chat (#33): each attack against `lingodesk run` in
production, with real Rasa, action server and Redis. Sessions are the server's to issue
(bot/sessions.py); a client names a conversation only with a token this deployment signed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
import requests
import socketio

from bot.sessions import SessionSigner
from tests.deployments import LingodeskRun
from tests.operations import SESSIONS, SHOP, TOKEN
from tests.servers import http_json

pytest_plugins = ["tests.redis_server", "tests.operations"]


@pytest.mark.e2e
def test_a_client_cannot_write_into_another_customers_conversation(
    production: LingodeskRun,
) -> None:
    """Attack: chat takeover over REST. Knowing Alice's conversation id (agents see it in every
    ticket, logs carry it), Bob posts it as `sender`, or a token signed with another key, or
    an unsigned one (alg "none"): each is refused 401 and her conversation holds only her own
    message. A session the server issues works, and is a conversation of its own."""
    alice = "alice-takeover"
    webhook = f"{production.url}/webhooks/rest/webhook"
    assert requests.post(
        webhook, json={"sender": SESSIONS.issue(alice), "message": "hello"}, timeout=60
    ).ok
    expiry = int(time.time()) + 600
    forged = [
        alice,
        SessionSigner(b"a-key-bob-made-up-that-is-long-enough!!").issue(alice),
        jwt.encode({"sub": alice, "exp": expiry}, None, algorithm="none"),
    ]
    for sender in forged:
        answer = requests.post(webhook, json={"sender": sender, "message": "?"}, timeout=60)
        assert answer.status_code == 401 and "session" in answer.json()["error"]
    tracker = f"{production.url}/conversations/{alice}/tracker?token={TOKEN}"
    events = http_json(tracker)["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == ["hello"]

    issued = requests.post(f"{production.url}/webhooks/rest/session", timeout=30).json()
    assert issued["conversation_id"] != alice
    assert requests.post(webhook, json={"sender": issued["sender"], "message": "hi"}, timeout=60).ok


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"", "empty"),
        (b"{not json", "not JSON"),
        (b'{"sender": "x", "message": "hi"}', None),
        ('{"message": "Grüße"}'.encode("latin-1"), "UTF-8"),
        (b'["hello"]', "JSON object"),
        (b'{"message": 42}', "`message`"),
        (b'{"message": "hi", "metadata": "x"}', "`metadata`"),
    ],
)
def test_bad_rest_bodies_get_400_with_a_json_error(
    production: LingodeskRun, body: bytes, complaint: str | None
) -> None:
    """Attack: bodies Rasa's channel would answer with a 500 (empty, not JSON, not UTF-8,
    wrong types) are refused 400 with a JSON error before Rasa reads them."""
    answer = requests.post(
        f"{production.url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    if complaint is None:  # valid JSON and types, but no session: refused as such
        assert answer.status_code == 401
        return
    assert answer.status_code == 400 and complaint in answer.json()["error"]


async def _socket(url: str, origin: str | None = None) -> tuple[Any, asyncio.Queue]:
    """A socket.io client of the widget's channel; its queue gets session confirmations and
    bot messages as (event, data)."""
    client = socketio.AsyncClient(reconnection=False)
    received: asyncio.Queue = asyncio.Queue()
    client.on("session_confirm", lambda data: received.put_nowait(("session_confirm", data)))
    client.on("bot_uttered", lambda data: received.put_nowait(("bot_uttered", data)))
    headers = {"Origin": origin} if origin else {}
    # Long-polling: this python-engineio speaks websocket only with a newer aiohttp than Rasa pins.
    await client.connect(url, headers=headers, transports=["polling"], wait_timeout=30)
    return client, received


async def _next(received: asyncio.Queue, event: str) -> Any:
    while True:
        name, data = await asyncio.wait_for(received.get(), timeout=60)
        if name == event:
            return data


@pytest.mark.e2e
def test_a_widget_cannot_join_or_write_into_another_customers_chat(
    production: LingodeskRun,
) -> None:
    """Attack: chat takeover over socket.io. Bob's client asks for Alice's conversation by its
    id (agents see it in every ticket) and names it in its messages; the server issues Bob a
    session of his own, his messages land there, and Alice's conversation holds only hers."""

    async def attack() -> tuple[str, str, str]:
        alice, alice_inbox = await _socket(production.url, SHOP)
        await alice.emit("session_request", {"session_id": None})
        alice_token = (await _next(alice_inbox, "session_confirm"))["session_id"]
        alice_id = SESSIONS.conversation_id(alice_token)
        await alice.emit("user_uttered", {"message": "hallo", "session_id": alice_token})
        await _next(alice_inbox, "bot_uttered")

        bob, bob_inbox = await _socket(production.url, SHOP)
        await bob.emit("session_request", {"session_id": alice_id})
        bob_token = (await _next(bob_inbox, "session_confirm"))["session_id"]
        await bob.emit("user_uttered", {"message": "hijacked?", "session_id": alice_id})
        await _next(bob_inbox, "bot_uttered")
        await asyncio.gather(alice.disconnect(), bob.disconnect())
        return alice_id, alice_token, bob_token

    alice_id, alice_token, bob_token = asyncio.run(attack())
    assert SESSIONS.conversation_id(bob_token) != alice_id and bob_token != alice_token
    events = http_json(f"{production.url}/conversations/{alice_id}/tracker?token={TOKEN}")
    assert [e["text"] for e in events["events"] if e["event"] == "user"] == ["hallo"]


@pytest.mark.e2e
def test_a_widget_on_a_foreign_site_cannot_connect(production: LingodeskRun) -> None:
    """Attack: another site embeds the shop's widget channel (cross-site socket.io): a browser
    connection whose Origin is not the shop's is refused; the shop's own is accepted."""

    async def connect(origin: str) -> bool:
        try:
            client, _ = await _socket(production.url, origin)
        except socketio.exceptions.ConnectionError:
            return False
        await client.disconnect()
        return True

    assert asyncio.run(connect(SHOP))
    assert not asyncio.run(connect("https://evil.example"))
