"""What every request handler of the agents' API reaches through ``request.app[DESK]``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.agent.accounts import AccountStore
from bot.agent.audit import AuditLog
from bot.agent.canned import CannedReplies
from bot.agent.notes import TicketNotes
from bot.agent.rasa_client import RasaClient
from handoff.config import RoutingConfig
from handoff.queues import TicketQueues


@dataclass
class Desk:
    config: RoutingConfig
    queues: TicketQueues
    accounts: AccountStore
    audit: AuditLog
    rasa: RasaClient
    notes: TicketNotes
    # The assistant's responses per language, for canned replies (bot/agent/canned.py).
    canned: CannedReplies
    # Origins besides the API's own that the console may be served from (state changes with
    # the session cookie are refused from any other).
    origins: frozenset[str] = frozenset()
    # Session cookies only over HTTPS: on outside local development.
    secure_cookies: bool = False


DESK = web.AppKey("desk", Desk)


def desk_of(request: web.Request) -> Desk:
    return request.app[DESK]
