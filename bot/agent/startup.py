"""The agents' side as `lingodesk run` starts it: the account check before the agent API comes
up, and the API as a supervised service."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.agent.accounts import AccountStore
from bot.agent.admin import AccountAdmin
from bot.agent.api import DEFAULT_PORT, refuse_development_accounts
from bot.agent.audit import AuditLog
from bot.supervisor import HEALTH_PATH, Service
from handoff.config import RoutingConfig
from handoff.queues import TicketQueues

DEVELOPMENT_ACCOUNT = "dev-admin"
# How long `lingodesk run` waits for the agent API to answer, in seconds.
AGENT_API_STARTUP = 60


def agent_api_command(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> list[str]:
    """The agents' HTTP API (bot/agent/api.py)."""
    return [sys.executable, "-m", "bot.agent.api", "--host", host, "--port", str(port)]


async def _first_account(config: RoutingConfig) -> tuple[str, str] | None:
    queues = TicketQueues.from_config(config)
    prefix = config.handoff.key_prefix
    try:
        store = AccountStore(queues.redis, prefix)
        if await store.all():
            return None
        password = secrets.token_urlsafe(18)
        admin = AccountAdmin(store, AuditLog(queues.redis, prefix), "lingodesk-run", "local")
        await admin.add(DEVELOPMENT_ACCOUNT, "admin", (), password, development=True)
        return DEVELOPMENT_ACCOUNT, password
    finally:
        await queues.aclose()


def prepare_accounts(config: RoutingConfig, production: bool) -> tuple[str, str] | None:
    """Production: refuse to go on while the development account exists
    (`DevelopmentAccountError`). Development, when there is no account at all: create an admin
    with a generated password and return (name, password) to show once."""
    if production:
        asyncio.run(refuse_development_accounts(config))
        return None
    return asyncio.run(_first_account(config))


def agent_api_service(port: int, env: Mapping[str, str], rasa_url: str, project: Path) -> Service:
    """The agent API as a service of `lingodesk run`, talking to Rasa at `rasa_url`, its
    canned replies from the project's domain.yml."""
    env = {**env, "LINGODESK_RASA_URL": rasa_url, "LINGODESK_DOMAIN": str(project / "domain.yml")}
    return Service("agent API", agent_api_command(port), env=env)


def wait_for_agent_api(service: Service, port: int) -> None:
    service.wait_for_url(f"http://127.0.0.1:{port}{HEALTH_PATH}", AGENT_API_STARTUP)
