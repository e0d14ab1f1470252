"""The agents' HTTP API: queues, claiming, a ticket's context, replying, closing.

Run it with ``python -m bot.agent.api`` (``--port``, default 5056). Every route except
``GET /health`` needs ``Authorization: Bearer $LINGODESK_AGENT_TOKEN``; the server refuses to
start without that variable. Agents name themselves in an ``X-Agent`` header. Routes:

    GET  /queues                    length, waiting time and active agents of every queue
    POST /queues/{queue}/claim      the next ticket for this agent (204 when the queue is empty)
    GET  /tickets/{id}              the ticket and the live conversation (the claiming agent's
                                    read also counts as a heartbeat)
    POST /tickets/{id}/heartbeat    still working on it (else it is reclaimed after the timeout)
    POST /tickets/{id}/reply        {"text": "..."}: a message into the customer's chat
    POST /tickets/{id}/close        done: the bot takes the conversation back

Messages reach the customer through Rasa's HTTP API (``LINGODESK_RASA_URL``, default
http://127.0.0.1:5005, token ``LINGODESK_RASA_TOKEN`` when Rasa runs with ``--auth-token``):
appended to the conversation and pushed through the channel the customer last wrote from.
Rasa's REST channel cannot push, so for its customers (``handoff.pull_channels``) messages wait
in Redis and go out with the customer's next message (actions.actions.ActionDeliverAgentMessages).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Any

import aiohttp
from aiohttp import web

from handoff.config import RoutingConfig
from handoff.config_loader import load_config
from handoff.errors import (
    InvalidTicketError,
    NotTicketOwnerError,
    QueueError,
    QueueUnavailableError,
    TicketNotFoundError,
    UnknownQueueError,
)
from handoff.queues import TicketQueues
from handoff.tickets import AGENT_METADATA_KEY, Ticket, transcript

logger = logging.getLogger(__name__)

TOKEN_ENV = "LINGODESK_AGENT_TOKEN"
RASA_URL_ENV = "LINGODESK_RASA_URL"
RASA_TOKEN_ENV = "LINGODESK_RASA_TOKEN"
DEFAULT_PORT = 5056
_AGENT_NAME = re.compile(r"^[\w.@-]{1,64}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS_FOR_ERROR: dict[type[Exception], int] = {
    InvalidTicketError: 400,
    UnknownQueueError: 404,
    TicketNotFoundError: 404,
    NotTicketOwnerError: 409,
    QueueUnavailableError: 503,
}


class MissingTokenError(RuntimeError):
    """The API must not run unauthenticated."""


class RasaError(Exception):
    """Rasa's HTTP API failed or is unreachable."""


class BadRequestError(Exception):
    """The request is malformed (body, header); the message says how."""


class RasaClient:
    """The few calls of Rasa's HTTP API (``rasa run --enable-api``) the agent side needs."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.params = {"token": token} if token else {}

    async def _call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        try:
            async with self.session.request(
                method, f"{self.url}{path}", json=body, params={**self.params, **params}
            ) as answer:
                if answer.status >= 400:
                    raise RasaError(f"Rasa answered {answer.status}: {await answer.text()}")
                return await answer.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise RasaError(f"Rasa is unreachable at {self.url}: {error}") from error

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/conversations/{conversation_id}/tracker")

    async def push_text(self, conversation_id: str, text: str, metadata: dict[str, Any]) -> None:
        """Log an agent message in the conversation and send it down the customer's channel.

        The ``custom`` payload is what tells the chat widget the message is from an agent
        (``metadata`` is kept in the tracker but channels do not forward it)."""
        custom = {"lingodesk": {"kind": "agent_message", "agent": metadata.get(AGENT_METADATA_KEY)}}
        event = {"event": "bot", "text": text, "metadata": metadata, "data": {"custom": custom}}
        await self._call(
            "POST",
            f"/conversations/{conversation_id}/tracker/events",
            [event],
            output_channel="latest",
            execute_side_effects="true",
        )

    async def utter(self, conversation_id: str, response: str) -> None:
        """Run a domain response (chosen in the customer's language) in the conversation."""
        await self._call(
            "POST",
            f"/conversations/{conversation_id}/execute",
            {"name": response},
            output_channel="latest",
        )

    async def hand_back(self, conversation_id: str) -> None:
        """Un-pause the bot. The final action_listen makes the customer's next message start a
        normal turn (without it, rules see the previous action and fall back)."""
        events = [
            {"event": "resume"},
            {"event": "slot", "name": "handed_off", "value": None},
            {"event": "slot", "name": "escalate", "value": None},
            {"event": "slot", "name": "handoff_ticket", "value": None},
            {"event": "action", "name": "action_listen"},
        ]
        await self._call("POST", f"/conversations/{conversation_id}/tracker/events", events)


QUEUES = web.AppKey("queues", TicketQueues)
RASA = web.AppKey("rasa", RasaClient)
CONFIG = web.AppKey("config", RoutingConfig)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One place that turns failures into JSON errors with the right status."""
    try:
        return await handler(request)
    except QueueError as error:
        return _error(STATUS_FOR_ERROR.get(type(error), 500), str(error))
    except BadRequestError as error:
        return _error(400, str(error))
    except RasaError as error:
        return _error(502, str(error))


def _authentication(token: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/health":
            return await handler(request)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return _error(401, "missing or wrong token (Authorization: Bearer ...)")
        return await handler(request)

    return authenticate


def _agent(request: web.Request) -> str:
    agent = request.headers.get("X-Agent", "")
    if not _AGENT_NAME.match(agent):
        raise BadRequestError("the X-Agent header must name the agent (letters, digits, _.@-)")
    return agent


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequestError(f"the body must be JSON: {error}") from error
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    return body


def _ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {**ticket.to_dict(), "priority_name": ticket.priority_name}


async def _deliver(request: web.Request, ticket: Ticket, message: dict[str, Any]) -> str:
    """Send `message` (agent text or a domain response) to the ticket's customer.

    Returns "pushed", or "next_turn" for a customer on a pull channel, who gets it with their
    next message.
    """
    rasa = request.app[RASA]
    conversation = await rasa.tracker(ticket.conversation_id)
    if conversation.get("latest_input_channel") in request.app[CONFIG].handoff.pull_channels:
        await request.app[QUEUES].push_outbox(ticket.conversation_id, message)
        return "next_turn"
    if "response" in message:
        await rasa.utter(ticket.conversation_id, message["response"])
    else:
        metadata = {AGENT_METADATA_KEY: message["agent"], "ticket_id": message["ticket_id"]}
        await rasa.push_text(ticket.conversation_id, message["text"], metadata)
    return "pushed"


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def list_queues(request: web.Request) -> web.Response:
    stats = await request.app[QUEUES].all_stats()
    return web.json_response({"queues": [asdict(s) for s in stats]})


async def claim(request: web.Request) -> web.Response:
    ticket = await request.app[QUEUES].claim(request.match_info["queue"], _agent(request))
    if ticket is None:
        return web.Response(status=204)
    return web.json_response({"ticket": _ticket_json(ticket)})


async def show_ticket(request: web.Request) -> web.Response:
    """The ticket as escalated, plus the conversation as it is now (customers keep writing)."""
    queues = request.app[QUEUES]
    agent = _agent(request)
    ticket = await queues.get(request.match_info["ticket_id"])
    if ticket.status == "claimed" and ticket.agent == agent:
        await queues.touch(ticket.ticket_id, agent)
    conversation = await request.app[RASA].tracker(ticket.conversation_id)
    limit = request.app[CONFIG].handoff.transcript_turns
    return web.json_response(
        {
            "ticket": _ticket_json(ticket),
            "conversation": transcript(conversation.get("events") or [], limit),
            "waiting_for_customer_turn": await queues.pending_outbox(ticket.conversation_id),
        }
    )


async def heartbeat(request: web.Request) -> web.Response:
    ticket = await request.app[QUEUES].touch(request.match_info["ticket_id"], _agent(request))
    return web.json_response({"ticket_id": ticket.ticket_id, "status": "claimed"})


async def reply(request: web.Request) -> web.Response:
    agent = _agent(request)
    text = (await _body(request)).get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequestError('a reply needs {"text": "..."} with a non-empty text')
    ticket = await request.app[QUEUES].touch(request.match_info["ticket_id"], agent)
    message = {"text": text, "agent": agent, "ticket_id": ticket.ticket_id}
    return web.json_response({"delivery": await _deliver(request, ticket, message)})


async def close(request: web.Request) -> web.Response:
    """Close the ticket, say the bot is back (in the customer's language), un-pause the bot.

    Closing again after a failure is safe: Redis reports the ticket as already closed and the
    hand-back to Rasa is repeated.
    """
    ticket, _ = await request.app[QUEUES].close(request.match_info["ticket_id"], _agent(request))
    delivery = await _deliver(request, ticket, {"response": "utter_bot_back"})
    await request.app[RASA].hand_back(ticket.conversation_id)
    return web.json_response({"ticket": _ticket_json(ticket), "delivery": delivery})


def create_app(
    config: RoutingConfig,
    token: str | None,
    rasa_url: str = "http://127.0.0.1:5005",
    rasa_token: str | None = None,
) -> web.Application:
    """The API over the queues of `config`; refuses to exist without a token."""
    if not token:
        raise MissingTokenError(
            f"set {TOKEN_ENV}: the agent API does not run without authentication"
        )
    app = web.Application(middlewares=[_authentication(token), _errors])
    app[CONFIG] = config

    async def connect(app: web.Application) -> AsyncIterator[None]:
        app[QUEUES] = TicketQueues.from_config(config)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            app[RASA] = RasaClient(session, rasa_url, rasa_token)
            yield
        await app[QUEUES].aclose()

    app.cleanup_ctx.append(connect)
    app.router.add_get("/health", health)
    app.router.add_get("/queues", list_queues)
    app.router.add_post("/queues/{queue}/claim", claim)
    app.router.add_get("/tickets/{ticket_id}", show_ticket)
    app.router.add_post("/tickets/{ticket_id}/heartbeat", heartbeat)
    app.router.add_post("/tickets/{ticket_id}/reply", reply)
    app.router.add_post("/tickets/{ticket_id}/close", close)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="lingodesk agent API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        app = create_app(
            load_config(),
            os.environ.get(TOKEN_ENV),
            os.environ.get(RASA_URL_ENV, "http://127.0.0.1:5005"),
            os.environ.get(RASA_TOKEN_ENV),
        )
    except MissingTokenError as error:
        parser.error(str(error))
    web.run_app(app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
