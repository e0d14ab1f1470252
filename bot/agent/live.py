"""Live updates for the console: ``GET /events`` is a server-sent event stream.

Every `INTERVAL` seconds the server looks at what the caller may see and sends what changed:
``queues`` (the `queue_overview` of the caller's queues) and, with ``?ticket=ID``, ``ticket``
(the `ticket_view`: the conversation as the customer writes it, notes, history). A stream ends
when its credential does (logout, revoke, expiry): the console then asks to sign in again.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from bot.agent.accounts import Account
from bot.agent.authorization import allowed
from bot.agent.context import Desk, desk_of
from bot.agent.credentials import current_account
from bot.agent.desk import queue_overview, ticket_view
from bot.agent.rasa_client import RasaError
from handoff.errors import QueueError
from handoff.ids import is_ticket_id

INTERVAL = 0.5
OLDEST_WAIT = re.compile(r'"oldest_wait_seconds": [0-9.e+-]+')
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15


async def _ticket_update(desk: Desk, account: Account, ticket_id: str) -> dict[str, Any]:
    try:
        ticket = await desk.queues.get(ticket_id)
    except QueueError:
        return {"error": "no such ticket"}
    if not allowed(account, "show", desk.config.queues.team(ticket.queue)):
        return {"error": "not a ticket of your queues"}
    try:
        return await ticket_view(desk, ticket)
    except RasaError as error:
        return {"error": str(error)}


def _change_key(payload: str) -> str:
    """What must differ for an update to be sent: not the clock (the queue's oldest wait
    grows by itself; the console counts it from the tickets' handoff times)."""
    return OLDEST_WAIT.sub("", payload)


async def events(request: web.Request) -> web.StreamResponse:
    desk = desk_of(request)
    ticket_id = request.query.get("ticket") or None
    if ticket_id is not None and not is_ticket_id(ticket_id):
        ticket_id = None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass events on at once
        }
    )
    await response.prepare(request)
    sent: dict[str, str] = {}
    quiet = 0.0
    try:
        while (account := await current_account(request)) is not None:
            updates = {"queues": {"queues": await queue_overview(desk, account)}}
            if ticket_id:
                updates["ticket"] = await _ticket_update(desk, account, ticket_id)
            for name, data in updates.items():
                payload = json.dumps(data, ensure_ascii=False)
                if sent.get(name) != (key := _change_key(payload)):
                    await response.write(f"event: {name}\ndata: {payload}\n\n".encode())
                    sent[name], quiet = key, 0.0
            if quiet >= KEEPALIVE_SECONDS:
                await response.write(b": keep-alive\n\n")
                quiet = 0.0
            await asyncio.sleep(INTERVAL)
            quiet += INTERVAL
        await response.write(b"event: signed_out\ndata: {}\n\n")
    except (ConnectionResetError, QueueError):
        pass  # the console went away, or Redis did: the browser reconnects on its own
    return response
