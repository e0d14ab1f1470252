"""`lingodesk agents`: agents' accounts, run on the server by whoever runs lingodesk.

    lingodesk agents add NAME --role agent --team agents_de [--team ...]
    lingodesk agents list                      accounts, roles, teams, tokens, locks
    lingodesk agents passwd NAME               a new password (ends every session and token)
    lingodesk agents token NAME [--days 90]    a new API token, shown once
    lingodesk agents revoke NAME [--token ID]  end one token, or every session and token
    lingodesk agents unlock NAME               lift a lock after failed logins
    lingodesk agents remove NAME
    lingodesk agents audit [--count N] [--ticket ID] [--who NAME] [--account NAME]

Passwords are asked for twice on the terminal, or read from standard input with
``--password-stdin``. It works on the handoff's Redis directly (the routing config's
``handoff.redis_url``), as ``operator:<login name>`` in the audit log: whoever can run it on
the server can read that Redis anyway. Admins elsewhere use the API's /accounts routes.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable

from bot.agent.accounts import ROLES, TOKEN_DAYS, AccountError, AccountStore
from bot.agent.admin import AccountAdmin
from bot.agent.audit import AuditLog
from handoff.config import RoutingConfig
from handoff.config_loader import load_config
from handoff.errors import QueueError
from handoff.queues import TicketQueues


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="agents_command", required=True)
    add = commands.add_parser("add", help="a new account")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--team", action="append", default=[], help="a team it works (repeat)")
    commands.add_parser("list", help="accounts, roles, teams, tokens and locks")
    for name, text in (("passwd", "set a new password"), ("remove", "delete an account"),
                       ("unlock", "lift a failed-login lock")):  # fmt: skip
        commands.add_parser(name, help=text).add_argument("name")
    for command in (add, commands.choices["passwd"]):
        command.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    token = commands.add_parser("token", help="a new API token (shown once)")
    token.add_argument("name")
    token.add_argument("--days", type=int, default=TOKEN_DAYS)
    revoke = commands.add_parser("revoke", help="end one token, or every credential")
    revoke.add_argument("name")
    revoke.add_argument("--token", help="the token's id (ldk_<id>_...); default: all")
    audit = commands.add_parser("audit", help="who did what, oldest first")
    audit.add_argument("--count", type=int, default=50)
    for name in ("ticket", "who", "account"):
        audit.add_argument(f"--{name}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise AccountError("no terminal to ask for the password on: use --password-stdin")
    first = getpass.getpass("Password (12 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _print_accounts(rows: list[dict]) -> None:
    print(f"{'name':<24}{'role':<12}{'teams':<30}{'tokens':>7}  status")
    for row in rows:
        status = "development account" if row["development"] else "active"
        if row["locked_seconds"]:
            status = f"LOCKED after failed logins ({row['locked_seconds'] // 60 + 1} min left)"
        teams = ",".join(row["teams"]) or "-"
        print(f"{row['name']:<24}{row['role']:<12}{teams:<30}{len(row['tokens']):>7}  {status}")


async def _audit(log: AuditLog, args: argparse.Namespace) -> None:
    entries = await log.entries(args.count, args.ticket, args.who, args.account)
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.at))
        about = " ".join(
            f"{k}={v}" for k, v in entry.to_dict().items() if k not in ("id", "at", "who", "action")
        )
        print(f"{when}  {entry.who:<20} {entry.action:<20} {about}")


def _command(args: argparse.Namespace, admin: AccountAdmin) -> Callable[[], Awaitable[str | None]]:
    """What the subcommand does; returns what to print."""
    name = getattr(args, "name", "")

    async def add() -> str:
        account = await admin.add(name, args.role, args.team, _password(args.password_stdin))
        return f"Added {account.role} {account.name} (teams: {', '.join(account.teams) or '-'})."

    async def passwd() -> str:
        await admin.set_password(name, _password(args.password_stdin))
        return f"New password for {name}; its sessions and tokens have ended."

    async def token() -> str:
        issued = await admin.issue_token(name, args.days)
        return f"{issued}\n(shown once: store it now; valid {args.days} days)"

    async def revoke() -> str:
        return f"Ended {await admin.revoke(name, args.token)} credential(s) of {name}."

    async def unlock() -> str:
        await admin.unlock(name)
        return f"Unlocked {name}."

    async def remove() -> str:
        await admin.remove(name)
        return f"Removed {name} and every credential it had."

    async def listing() -> None:
        _print_accounts(await admin.listing())

    async def audit() -> None:
        await _audit(admin.audit, args)

    commands = {"add": add, "passwd": passwd, "token": token, "revoke": revoke,
                "unlock": unlock, "remove": remove, "list": listing, "audit": audit}  # fmt: skip
    return commands[args.agents_command]


async def _run(args: argparse.Namespace, config: RoutingConfig) -> str | None:
    queues = TicketQueues.from_config(config)
    prefix = config.handoff.key_prefix
    admin = AccountAdmin(
        AccountStore(queues.redis, prefix),
        AuditLog(queues.redis, prefix),
        f"operator:{getpass.getuser()}",
        "local",
    )
    try:
        return await _command(args, admin)()
    finally:
        await queues.aclose()


def run(args: argparse.Namespace) -> int:
    try:
        output = asyncio.run(_run(args, load_config()))
    except (AccountError, QueueError) as error:
        print(f"lingodesk agents: {error}", file=sys.stderr)
        return 1
    if output:
        print(output)
    return 0
