"""Agents' accounts for the tests: made straight in the handoff's Redis, with the cheapest
argon2id parameters (the tests check behaviour, not hashing cost), plus a stand-in for Rasa's
HTTP API that records what the agent API asks of it.

The stand-in is a real HTTP server on a loopback port; what Rasa does with the calls (the
customer seeing the message, the bot resuming) is covered end to end by
tests/test_handoff_e2e.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from typing import Any

import redis.asyncio as redis
from aiohttp import web
from argon2 import PasswordHasher

from bot.agent.accounts import AccountStore
from bot.supervisor import free_port
from handoff.config import RoutingConfig
from handoff.queues import TicketQueues
from handoff.tickets import Ticket

PASSWORD = "correct horse battery"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def config_for(url: str) -> RoutingConfig:
    """The shipped routing defaults with the handoff's Redis at `url`."""
    config = RoutingConfig()
    handoff = dataclasses.replace(config.handoff, redis_url=url, redis_timeout_seconds=1)
    return dataclasses.replace(config, handoff=handoff)


async def add_account(redis_url: str, name: str, role: str = "agent", *teams: str) -> str:
    """Create an account (password `PASSWORD`) and return an API token for it."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        store = AccountStore(client, "lingodesk", FAST_HASHER)
        await store.add(name, role, teams, PASSWORD)
        return await store.issue_token(name)
    finally:
        await client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def escalate(
    queues: TicketQueues, conversation: str = "conv-1", queue: str = "agents_de"
) -> Ticket:
    ticket = Ticket(
        ticket_id=Ticket.new_id(),
        conversation_id=conversation,
        queue=queue,
        priority=2,
        reason="The customer is angry.",
        language=queue.rsplit("_", 1)[-1],
    )
    return (await queues.submit(ticket)).ticket


# What lingodesk's NLU wrote on the stand-in conversation's first customer message.
PARSED_ANGRY = {
    "intent": {"name": "order_status", "confidence": 0.912},
    "sentiment": {"label": "negative", "scores": {"positive": 0.05, "negative": 0.9}},
    "anger": {"score": 0.81, "level": "angry"},
}


class RecordingRasa:
    """Serves `GET .../tracker` and records every request (path as sent, query, body)."""

    def __init__(self) -> None:
        self.channel = "socketio"
        # While set, every call that would change a conversation fails (Rasa answering 500).
        self.failing = False
        self.calls: list[tuple[str, dict[str, str], Any]] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.calls.append((request.raw_path.split("?")[0], dict(request.query), body))
        if request.method == "GET" and request.path.endswith("/tracker"):
            return web.json_response(
                {
                    "sender_id": request.match_info["tail"].split("/")[1],
                    "latest_input_channel": self.channel,
                    "events": [
                        {
                            "event": "user",
                            "text": "Wo bleibt mein Paket?!",
                            "timestamp": 1.0,
                            "parse_data": PARSED_ANGRY,
                        },
                        {"event": "bot", "text": "Ich verbinde Sie ...", "timestamp": 2.0},
                        {"event": "user", "text": "Hallo?", "timestamp": 3.0},
                    ],
                }
            )
        if self.failing:
            return web.json_response({"message": "internal error at 10.1.2.3"}, status=500)
        return web.json_response({})

    def changes(self) -> list[tuple[str, dict[str, str], Any]]:
        """The calls that change a conversation (everything but reading a tracker)."""
        return [call for call in self.calls if not call[0].endswith("/tracker")]


class RecordingRasaServer:
    """`RecordingRasa` on a loopback port of its own, served from a thread, for API processes
    started by the tests: ``with RecordingRasaServer() as rasa: ... rasa.url, rasa.recording``."""

    def __init__(self) -> None:
        self.recording = RecordingRasa()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self.recording.app, access_log=None)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> RecordingRasaServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    async def _serve(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def add_account_now(redis_url: str, name: str, role: str = "agent", *teams: str) -> str:
    """`add_account` from synchronous code, even where an event loop runs in this thread
    (Playwright's sync API keeps one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, add_account(redis_url, name, role, *teams)).result()
