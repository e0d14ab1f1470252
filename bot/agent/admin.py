"""Managing accounts, audited: the one code path behind both the admin routes of the API and
the ``lingodesk agents`` command, so each change is recorded the same way whoever makes it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.agent.accounts import Account, AccountStore, name_key
from bot.agent.audit import AuditLog
from bot.agent.authorization import require
from bot.agent.context import desk_of
from bot.agent.credentials import account_of, client_address
from bot.agent.errors import BadRequestError, json_body, text_field

MAX_AUDIT_PAGE = 1000


@dataclass(frozen=True)
class AccountAdmin:
    """Account changes made by `who` (an admin's name, or ``operator:<login>`` for the CLI run
    on the server) from `address`."""

    store: AccountStore
    audit: AuditLog
    who: str
    address: str = ""

    async def _record(self, action: str, account: str, detail: str = "") -> None:
        await self.audit.record(
            self.who, action, account=account, detail=detail, address=self.address
        )

    async def add(
        self,
        name: str,
        role: str,
        teams: Iterable[str],
        password: str,
        development: bool = False,
    ) -> Account:
        account = await self.store.add(name, role, teams, password, development)
        await self._record("account_added", name, f"{role}; teams: {','.join(account.teams)}")
        return account

    async def remove(self, name: str) -> None:
        await self.store.remove(name)
        await self._record("account_removed", name)

    async def set_password(self, name: str, password: str) -> None:
        await self.store.set_password(name, password)
        await self._record("password_changed", name, "every session and token ended")

    async def issue_token(self, name: str, days: int) -> str:
        token = await self.store.issue_token(name, days)
        await self._record("token_issued", name, f"token {token.split('_')[1]}, {days} days")
        return token

    async def revoke(self, name: str, token_id: str | None = None) -> int:
        """End one token of `name`, or every session and token it has; how many ended."""
        if token_id:
            await self.store.revoke_token(name, token_id)
            await self._record("token_revoked", name, f"token {token_id}")
            return 1
        await self.store.require(name)
        ended = await self.store.revoke_all(name)
        await self._record("credentials_revoked", name, f"{ended} sessions and tokens")
        return ended

    async def unlock(self, name: str) -> None:
        await self.store.require(name)
        await self.store.clear_failures(name_key(name))
        await self._record("account_unlocked", name)

    async def listing(self) -> list[dict[str, Any]]:
        """Every account with its tokens and, when failed logins locked it, for how long."""
        return [
            {
                **account.to_dict(),
                "tokens": await self.store.tokens(account.name),
                "locked_seconds": await self.store.locked_for(name_key(account.name)),
            }
            for account in await self.store.all()
        ]


def _admin(request: web.Request) -> AccountAdmin:
    account = account_of(request)
    require(account, "manage_accounts")
    desk = desk_of(request)
    return AccountAdmin(desk.accounts, desk.audit, account.name, client_address(request))


async def list_accounts(request: web.Request) -> web.Response:
    return web.json_response({"accounts": await _admin(request).listing()})


async def add_account(request: web.Request) -> web.Response:
    """``{"name", "role", "teams": [...], "password"}``."""
    admin = _admin(request)
    body = await json_body(request)
    teams = body.get("teams", [])
    if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
        raise BadRequestError('"teams" must be a list of team names')
    account = await admin.add(
        text_field(body, "name", 64),
        text_field(body, "role", 16),
        teams,
        body.get("password") if isinstance(body.get("password"), str) else "",
    )
    return web.json_response({"account": account.to_dict()}, status=201)


async def remove_account(request: web.Request) -> web.Response:
    await _admin(request).remove(request.match_info["name"])
    return web.json_response({"removed": request.match_info["name"]})


async def revoke(request: web.Request) -> web.Response:
    """End every session and token of the account (a lost laptop, someone leaving)."""
    ended = await _admin(request).revoke(request.match_info["name"])
    return web.json_response({"ended": ended})


async def unlock(request: web.Request) -> web.Response:
    await _admin(request).unlock(request.match_info["name"])
    return web.json_response({"unlocked": request.match_info["name"]})


async def audit(request: web.Request) -> web.Response:
    """The audit log, oldest first: ``?count=100&ticket=&who=&account=``."""
    require(account_of(request), "read_audit")
    try:
        count = int(request.query.get("count", "100"))
    except ValueError as error:
        raise BadRequestError("count must be a whole number") from error
    if not 1 <= count <= MAX_AUDIT_PAGE:
        raise BadRequestError(f"count must be 1..{MAX_AUDIT_PAGE}")
    filters = {k: request.query.get(k) or None for k in ("ticket", "who", "account")}
    entries = await desk_of(request).audit.entries(count=count, **filters)
    return web.json_response({"entries": [entry.to_dict() for entry in entries]})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/accounts", list_accounts)
    app.router.add_post("/accounts", add_account)
    app.router.add_delete("/accounts/{name}", remove_account)
    app.router.add_post("/accounts/{name}/revoke", revoke)
    app.router.add_post("/accounts/{name}/unlock", unlock)
    app.router.add_get("/audit", audit)
