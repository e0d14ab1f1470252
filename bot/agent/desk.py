"""The queue and ticket routes: what an agent does all shift.

Each route checks the caller's rights on the ticket's queue (bot/agent/authorization.py)
before it touches anything, changes the ticket through the queues (handoff/queues.py: holding
the ticket is checked there, atomically), and records the change in the audit log.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.agent.accounts import Account
from bot.agent.authorization import Action, allowed, require
from bot.agent.canned import replies_for
from bot.agent.context import Desk, desk_of
from bot.agent.credentials import account_of, client_address
from bot.agent.errors import BadRequestError, json_body, text_field
from handoff.errors import check_queue
from handoff.ids import is_language_tag
from handoff.tickets import AGENT_METADATA_KEY, Ticket, transcript

MAX_REPLY_CHARS = 4000
CONSOLE_TURNS = 200  # messages of a conversation the console shows
MAX_NOTE_CHARS = 1000


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {**ticket.to_dict(), "priority_name": ticket.priority_name}


def _queue(request: web.Request, action: Action) -> str:
    """The route's queue, known to the routing config and open to the caller for `action`."""
    desk, queue = desk_of(request), request.match_info["queue"]
    check_queue(queue, desk.config.known_queues)
    require(account_of(request), action, desk.config.queues.team(queue))
    return queue


async def _ticket(request: web.Request, action: Action) -> Ticket:
    """The route's ticket, once the caller may do `action` on its queue (403 otherwise; the
    ticket is not touched)."""
    desk = desk_of(request)
    ticket = await desk.queues.get(request.match_info["ticket_id"])
    require(account_of(request), action, desk.config.queues.team(ticket.queue))
    return ticket


async def _record(request: web.Request, action: str, ticket: Ticket, **about: str) -> None:
    await desk_of(request).audit.record(
        account_of(request).name,
        action,
        ticket=ticket.ticket_id,
        queue=ticket.queue,
        address=client_address(request),
        **about,
    )


async def _deliver(desk: Desk, ticket: Ticket, message: dict[str, Any]) -> str:
    """Send `message` (agent text or a domain response) to the ticket's customer.

    Returns "pushed", or "next_turn" for a customer on a pull channel, who gets it with their
    next message.
    """
    conversation = await desk.rasa.tracker(ticket.conversation_id)
    if conversation.get("latest_input_channel") in desk.config.handoff.pull_channels:
        await desk.queues.push_outbox(ticket.conversation_id, message)
        return "next_turn"
    if "response" in message:
        await desk.rasa.utter(ticket.conversation_id, message["response"])
    else:
        metadata = {AGENT_METADATA_KEY: message["agent"], "ticket_id": message["ticket_id"]}
        await desk.rasa.push_text(ticket.conversation_id, message["text"], metadata)
    return "pushed"


async def me(request: web.Request) -> web.Response:
    """The caller's account, and every queue (where a ticket may be transferred to)."""
    queues = sorted(desk_of(request).config.known_queues)
    return web.json_response({"account": account_of(request).to_dict(), "queues": queues})


def visible_queues(desk: Desk, account: Account) -> list[str]:
    """The queues `account` works (every queue for a supervisor)."""
    return [
        q for q in sorted(desk.config.known_queues)
        if allowed(account, "see_queue", desk.config.queues.team(q))
    ]  # fmt: skip


async def queue_overview(desk: Desk, account: Account) -> list[dict[str, Any]]:
    """Per visible queue: its figures, its waiting tickets in claim order, and the claimed
    ones: the caller's own, or all with their holders for a supervisor."""
    overview = []
    for queue in visible_queues(desk, account):
        claimed = await desk.queues.tickets(queue, "claimed")
        if not account.supervises:
            claimed = [t for t in claimed if t.agent == account.name]
        overview.append(
            {
                **asdict(await desk.queues.stats(queue)),
                "tickets": [ticket_json(t) for t in await desk.queues.tickets(queue)],
                "claimed": [ticket_json(t) for t in claimed],
            }
        )
    return overview


async def ticket_view(desk: Desk, ticket: Ticket) -> dict[str, Any]:
    """The ticket as escalated, the conversation as it is now (customers keep writing) with
    what the NLU read in each customer message, its private notes and its history."""
    conversation = await desk.rasa.tracker(ticket.conversation_id)
    history = await desk.audit.entries(ticket=ticket.ticket_id)
    return {
        "ticket": ticket_json(ticket),
        "conversation": transcript(conversation.get("events") or [], CONSOLE_TURNS, True),
        "waiting_for_customer_turn": await desk.queues.pending_outbox(ticket.conversation_id),
        "notes": await desk.notes.of(ticket.ticket_id),
        "history": [entry.to_dict() for entry in history],
    }


async def list_queues(request: web.Request) -> web.Response:
    """The caller's queues with their figures (``?tickets=1``: and their tickets)."""
    desk, account = desk_of(request), account_of(request)
    if request.query.get("tickets"):
        return web.json_response({"queues": await queue_overview(desk, account)})
    stats = [await desk.queues.stats(q) for q in visible_queues(desk, account)]
    return web.json_response({"queues": [asdict(s) for s in stats]})


async def queue_tickets(request: web.Request) -> web.Response:
    """A queue's waiting tickets in claim order (``?state=claimed``: its claimed ones)."""
    state = request.query.get("state", "waiting")
    if state not in ("waiting", "claimed"):
        raise BadRequestError("state is waiting or claimed")
    tickets = await desk_of(request).queues.tickets(_queue(request, "see_queue"), state)
    return web.json_response({"tickets": [ticket_json(t) for t in tickets]})


async def claim(request: web.Request) -> web.Response:
    queue = _queue(request, "claim")
    ticket = await desk_of(request).queues.claim(queue, account_of(request).name)
    if ticket is None:
        return web.Response(status=204)
    await _record(request, "claim", ticket)
    return web.json_response({"ticket": ticket_json(ticket)})


async def show_ticket(request: web.Request) -> web.Response:
    """`ticket_view`; the holder's read counts as a heartbeat."""
    desk, name = desk_of(request), account_of(request).name
    ticket = await _ticket(request, "show")
    if ticket.status == "claimed" and ticket.agent == name:
        await desk.queues.touch(ticket.ticket_id, name)
    return web.json_response(await ticket_view(desk, ticket))


async def add_note(request: web.Request) -> web.Response:
    """``{"text"}``: a private note on the ticket, for agents only (never sent)."""
    desk = desk_of(request)
    text = text_field(await json_body(request), "text", MAX_NOTE_CHARS)
    ticket = await _ticket(request, "note")
    note = await desk.notes.add(ticket.ticket_id, account_of(request).name, text)
    await _record(request, "note", ticket, detail=text)
    return web.json_response({"note": note}, status=201)


async def canned(request: web.Request) -> web.Response:
    """``?language=es``: the assistant's responses as canned replies in that language."""
    desk = desk_of(request)
    language = request.query.get("language", "")
    if not is_language_tag(language):
        raise BadRequestError("language must be a code like es or pt-BR")
    default = desk.config.default_language
    return web.json_response({"replies": replies_for(desk.canned, language, default)})


async def heartbeat(request: web.Request) -> web.Response:
    ticket = await _ticket(request, "heartbeat")
    await desk_of(request).queues.touch(ticket.ticket_id, account_of(request).name)
    return web.json_response({"ticket_id": ticket.ticket_id, "status": "claimed"})


async def reply(request: web.Request) -> web.Response:
    desk, name = desk_of(request), account_of(request).name
    text = text_field(await json_body(request), "text", MAX_REPLY_CHARS)
    ticket = await _ticket(request, "reply")
    ticket = await desk.queues.touch(ticket.ticket_id, name)
    message = {"text": text, "agent": name, "ticket_id": ticket.ticket_id}
    delivery = await _deliver(desk, ticket, message)
    await _record(request, "reply", ticket, detail=f"{len(text)} characters, {delivery}")
    return web.json_response({"delivery": delivery})


async def transfer(request: web.Request) -> web.Response:
    """``{"queue", "note"}``: the ticket waits in another queue (an agent moves a ticket they
    hold; a supervisor any open ticket). The note is kept in the ticket's history."""
    desk, account = desk_of(request), account_of(request)
    body = await json_body(request)
    target = text_field(body, "queue", 64)
    note = text_field(body, "note", MAX_NOTE_CHARS, required=False)
    check_queue(target, desk.config.known_queues)
    ticket = await _ticket(request, "transfer")
    if target == ticket.queue:
        raise BadRequestError(f"the ticket is already in {target}")
    moved = await desk.queues.transfer(
        ticket.ticket_id, target, account.name, any_ticket=account.supervises
    )
    await _record(request, "transfer", moved, detail=f"from {ticket.queue}: {note}".rstrip(": "))
    return web.json_response({"ticket": ticket_json(moved)})


async def reassign(request: web.Request) -> web.Response:
    """``{"agent"}``: a supervisor gives the ticket to an agent who works its queue."""
    desk = desk_of(request)
    ticket = await _ticket(request, "reassign")
    name = text_field(await json_body(request), "agent", 64)
    target: Account | None = await desk.accounts.get(name)
    team = desk.config.queues.team(ticket.queue)
    if target is None or not allowed(target, "claim", team):
        raise BadRequestError(f"{name!r} is not an account that works {ticket.queue}")
    moved = await desk.queues.reassign(ticket.ticket_id, target.name)
    await _record(request, "reassign", moved, account=target.name)
    return web.json_response({"ticket": ticket_json(moved)})


async def close(request: web.Request) -> web.Response:
    """Close the ticket, say the bot is back (in the customer's language), un-pause the bot.

    Idempotent: closing an already closed ticket changes nothing, except that a hand-back a
    failure interrupted (Rasa down) is completed, and only while the conversation has not
    escalated again: a re-escalated customer stays with the humans.
    """
    desk = desk_of(request)
    ticket = await _ticket(request, "close")
    ticket, closed_now = await desk.queues.close(ticket.ticket_id, account_of(request).name)
    if closed_now:
        await _record(request, "close", ticket)
    elif await desk.queues.handed_back(ticket.ticket_id) or (
        await desk.queues.open_ticket(ticket.conversation_id) is not None
    ):
        return web.json_response({"ticket": ticket_json(ticket), "delivery": "none"})
    delivery = await _deliver(desk, ticket, {"response": "utter_bot_back"})
    await desk.rasa.hand_back(ticket.conversation_id)
    await desk.queues.mark_handed_back(ticket.ticket_id)
    return web.json_response({"ticket": ticket_json(ticket), "delivery": delivery})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/me", me)
    app.router.add_get("/queues", list_queues)
    app.router.add_get("/queues/{queue}/tickets", queue_tickets)
    app.router.add_get("/canned", canned)
    app.router.add_post("/tickets/{ticket_id}/notes", add_note)
    app.router.add_post("/queues/{queue}/claim", claim)
    app.router.add_get("/tickets/{ticket_id}", show_ticket)
    app.router.add_post("/tickets/{ticket_id}/heartbeat", heartbeat)
    app.router.add_post("/tickets/{ticket_id}/reply", reply)
    app.router.add_post("/tickets/{ticket_id}/transfer", transfer)
    app.router.add_post("/tickets/{ticket_id}/reassign", reassign)
    app.router.add_post("/tickets/{ticket_id}/close", close)
