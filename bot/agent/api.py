"""The agents' HTTP API: accounts sign in, work their teams' queues, and every change is audited.

Run it with ``python -m bot.agent.api`` (``--port``, default 5056); `lingodesk run` starts it
with the other services. Every route except ``GET /health`` and ``POST /login`` needs a
credential (bot/agent/credentials.py): a personal API token in ``Authorization: Bearer`` or
the session cookie ``POST /login`` sets. Who may do what: bot/agent/authorization.py. Routes:

    POST /login  {"name", "password"}   the session cookie          POST /logout
    GET  /me                            the caller's account
    GET  /queues                        the caller's queues: length, waits, active agents
    GET  /queues/{queue}/tickets        the waiting tickets, in claim order
    POST /queues/{queue}/claim          the next ticket (204 when the queue is empty)
    GET  /tickets/{id}                  the ticket, the live conversation, its history
    POST /tickets/{id}/heartbeat        still working on it
    POST /tickets/{id}/reply            {"text"}: a message into the customer's chat
    POST /tickets/{id}/transfer         {"queue", "note"}: to another queue
    POST /tickets/{id}/reassign         {"agent"}: to another agent (supervisors)
    POST /tickets/{id}/close            done: the bot takes the conversation back
    GET  /audit?count=&ticket=&who=&account=     the audit log (supervisors)
    GET|POST /accounts, DELETE /accounts/{name}, POST /accounts/{name}/revoke|unlock  (admins)

Messages reach the customer through Rasa's HTTP API (``LINGODESK_RASA_URL``, default
http://127.0.0.1:5005, token ``LINGODESK_RASA_TOKEN`` when Rasa runs with ``--auth-token``).
Rasa's REST channel cannot push, so for its customers (``handoff.pull_channels``) messages wait
in Redis and go out with the customer's next message (actions.actions.ActionDeliverAgentMessages).

Settings: ``LINGODESK_AGENT_ORIGINS`` (origins besides its own the console may be served from),
``LINGODESK_SESSION_HOURS`` (10), ``LINGODESK_AUDIT_RETENTION_DAYS`` (365). With
``LINGODESK_ENV=production`` cookies are HTTPS-only and the API refuses to start while the
development account `lingodesk run` creates is still there.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.agent import admin, desk, live
from bot.agent.accounts import SESSION_HOURS, AccountStore
from bot.agent.audit import RETENTION_DAYS, AuditLog
from bot.agent.canned import load_canned_replies
from bot.agent.context import DESK, Desk
from bot.agent.credentials import CONSOLE_PREFIX, identify, login, logout
from bot.agent.errors import errors
from bot.agent.notes import TicketNotes
from bot.agent.rasa_client import RasaClient
from bot.environment import is_production
from bot.logs import LOGGING_CONFIG
from handoff.config import RoutingConfig
from handoff.config_loader import load_config
from handoff.errors import QueueError
from handoff.queues import TicketQueues

RASA_URL_ENV = "LINGODESK_RASA_URL"
RASA_TOKEN_ENV = "LINGODESK_RASA_TOKEN"
ORIGINS_ENV = "LINGODESK_AGENT_ORIGINS"
SESSION_HOURS_ENV = "LINGODESK_SESSION_HOURS"
RETENTION_ENV = "LINGODESK_AUDIT_RETENTION_DAYS"
DOMAIN_ENV = "LINGODESK_DOMAIN"
DEFAULT_PORT = 5056
CONSOLE_DIR = Path(__file__).with_name("console")


class DevelopmentAccountError(RuntimeError):
    """Production must not run beside the account `lingodesk run` made for development."""


@dataclass(frozen=True)
class ApiSettings:
    """Everything the API reads from its environment."""

    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str | None = None
    origins: frozenset[str] = frozenset()
    session_hours: float = SESSION_HOURS
    audit_retention_days: float = RETENTION_DAYS
    production: bool = False
    # The assistant's domain, whose responses are the console's canned replies.
    domain: Path = Path("domain.yml")

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> ApiSettings:
        def number(name: str, default: float) -> float:
            try:
                value = float(env.get(name) or default)
            except ValueError as error:
                raise ValueError(f"{name} must be a number of hours or days") from error
            if value <= 0:
                raise ValueError(f"{name} must be positive")
            return value

        return cls(
            rasa_url=env.get(RASA_URL_ENV) or cls.rasa_url,
            rasa_token=env.get(RASA_TOKEN_ENV) or None,
            origins=frozenset(env.get(ORIGINS_ENV, "").split()),
            session_hours=number(SESSION_HOURS_ENV, SESSION_HOURS),
            audit_retention_days=number(RETENTION_ENV, RETENTION_DAYS),
            production=is_production(env),
            domain=Path(env.get(DOMAIN_ENV) or "domain.yml"),
        )


class PathOnlyAccessLogger(AbstractAccessLogger):
    """One line per request without the query string: a credential someone put in a URL
    (refused anyway) must not land in the log."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.1f ms',
            request.remote, request.method, request.path, response.status, time * 1000,
        )  # fmt: skip


def create_app(config: RoutingConfig, settings: ApiSettings | None = None) -> web.Application:
    """The API over the queues and accounts in `config`'s handoff Redis."""
    settings = settings or ApiSettings()
    app = web.Application(middlewares=[errors, identify], client_max_size=1024**2)

    canned = load_canned_replies(settings.domain, config.default_language)

    async def connect(app: web.Application) -> AsyncIterator[None]:
        queues = TicketQueues.from_config(config)
        prefix = config.handoff.key_prefix
        ticket_lifetime = config.handoff.open_ticket_ttl_days * 86400
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            app[DESK] = Desk(
                config=config,
                queues=queues,
                accounts=AccountStore(
                    queues.redis, prefix, session_seconds=settings.session_hours * 3600
                ),
                audit=AuditLog(queues.redis, prefix, settings.audit_retention_days),
                rasa=RasaClient(session, settings.rasa_url, settings.rasa_token),
                notes=TicketNotes(queues.redis, prefix, ticket_lifetime),
                canned=canned,
                origins=settings.origins,
                secure_cookies=settings.production,
            )
            yield
        await queues.aclose()

    app.cleanup_ctx.append(connect)
    app.router.add_get("/health", health)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/events", live.events)
    desk.add_routes(app)
    admin.add_routes(app)
    app.router.add_get("/", to_console)
    app.router.add_static(CONSOLE_PREFIX, CONSOLE_DIR, append_version=True)
    app.on_response_prepare.append(_security_headers)
    return app


async def to_console(_: web.Request) -> web.Response:
    raise web.HTTPFound(f"{CONSOLE_PREFIX}index.html")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The console runs only its own scripts and cannot be framed by another site."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def refuse_development_accounts(config: RoutingConfig) -> None:
    """`DevelopmentAccountError` while an account `lingodesk run` made for development exists."""
    queues = TicketQueues.from_config(config)
    try:
        store = AccountStore(queues.redis, config.handoff.key_prefix)
        found = [a.name for a in await store.development_accounts()]
    finally:
        await queues.aclose()
    if found:
        names = ", ".join(found)
        raise DevelopmentAccountError(
            f"LINGODESK_ENV=production refuses to start while the development account {names} "
            f"is enabled: remove it with `lingodesk agents remove {found[0]}`."
        )


def configure_logging() -> None:
    """The same redacting log configuration as Rasa and the action server (bot/logging.yml)."""
    logging.config.dictConfig(yaml.safe_load(LOGGING_CONFIG.read_text(encoding="utf-8")))
    logging.getLogger().setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="lingodesk agent API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    configure_logging()
    config = load_config()
    try:
        settings = ApiSettings.from_environment(os.environ)
        if settings.production:
            asyncio.run(refuse_development_accounts(config))
    except (ValueError, DevelopmentAccountError, QueueError) as error:
        print(f"lingodesk agent API: {error}", file=sys.stderr)
        return 2
    web.run_app(
        create_app(config, settings),
        host=args.host,
        port=args.port,
        access_log_class=PathOnlyAccessLogger,
        print=None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
