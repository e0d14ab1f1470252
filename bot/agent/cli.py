"""`lingodesk desk` (or `python -m bot.agent.cli`): the agent API (bot/agent/api.py) from a
terminal, as the account whose API token it is given.

    lingodesk desk queues                        what is waiting in your queues
    lingodesk desk tickets agents_de             a queue's waiting tickets
    lingodesk desk claim agents_de               take the next ticket of a queue
    lingodesk desk show TICKET                   the ticket, the conversation so far, history
    lingodesk desk reply TICKET "Hallo, ..."     write to the customer
    lingodesk desk heartbeat TICKET              keep the ticket while thinking
    lingodesk desk transfer TICKET QUEUE [--note "..."]   pass it to another team
    lingodesk desk reassign TICKET AGENT         (supervisors) give it to another agent
    lingodesk desk close TICKET                  done: the bot takes over again

Environment: LINGODESK_AGENT_TOKEN (required: your token, from `lingodesk agents token NAME`),
LINGODESK_AGENT_URL (default http://127.0.0.1:5056).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from bot.agent.api import DEFAULT_PORT

TOKEN_ENV = "LINGODESK_AGENT_TOKEN"
URL_ENV = "LINGODESK_AGENT_URL"


class ApiError(Exception):
    """The agent API answered with an error or could not be reached."""


def call(url: str, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request to the agent API: (status, decoded JSON or None)."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("error")
        except (ValueError, AttributeError):
            message = error.reason
        raise ApiError(f"{error.code}: {message}") from error
    except urllib.error.URLError as error:
        raise ApiError(f"cannot reach the agent API at {url}: {error.reason}") from error


def _print_queues(data: dict[str, Any]) -> None:
    print(f"{'queue':<22}{'waiting':>8}{'in work':>9}{'oldest wait':>13}{'agents':>8}")
    for q in data["queues"]:
        wait = f"{q['oldest_wait_seconds'] / 60:.1f} min"
        print(
            f"{q['queue']:<22}{q['waiting']:>8}{q['in_progress']:>9}{wait:>13}"
            f"{q['agents_active']:>8}"
        )


def _request(args: argparse.Namespace) -> tuple[str, str, Any]:
    """(method, path, body) of the subcommand; ids are quoted into the path."""
    ticket = f"/tickets/{quote(getattr(args, 'ticket', ''), safe='')}"
    queue = f"/queues/{quote(getattr(args, 'queue', ''), safe='')}"
    return {
        "queues": ("GET", "/queues", None),
        "tickets": ("GET", f"{queue}/tickets", None),
        "claim": ("POST", f"{queue}/claim", None),
        "show": ("GET", ticket, None),
        "heartbeat": ("POST", f"{ticket}/heartbeat", None),
        "reply": ("POST", f"{ticket}/reply", {"text": getattr(args, "text", "")}),
        "transfer": (
            "POST",
            f"{ticket}/transfer",
            {"queue": getattr(args, "to", ""), "note": getattr(args, "note", "")},
        ),
        "reassign": ("POST", f"{ticket}/reassign", {"agent": getattr(args, "agent", "")}),
        "close": ("POST", f"{ticket}/close", None),
    }[args.command]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lingodesk desk", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get(URL_ENV, f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("queues", help="queue lengths and waiting times")
    for name, text in (("tickets", "a queue's waiting tickets"), ("claim", "take the next")):
        commands.add_parser(name, help=text).add_argument("queue")
    for name, text in (
        ("show", "a ticket and its conversation"),
        ("heartbeat", "keep a ticket"),
        ("close", "close a ticket"),
    ):
        commands.add_parser(name, help=text).add_argument("ticket")
    reply_parser = commands.add_parser("reply", help="write to the customer")
    reply_parser.add_argument("ticket")
    reply_parser.add_argument("text")
    transfer_parser = commands.add_parser("transfer", help="move a ticket to another queue")
    transfer_parser.add_argument("ticket")
    transfer_parser.add_argument("to", metavar="queue")
    transfer_parser.add_argument("--note", default="", help="why, for the next team")
    reassign_parser = commands.add_parser("reassign", help="give a ticket to another agent")
    reassign_parser.add_argument("ticket")
    reassign_parser.add_argument("agent")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        parser.error(f"set {TOKEN_ENV} to your API token (lingodesk agents token NAME)")
    method, path, body = _request(args)
    try:
        status, data = call(args.url, token, method, path, body)
    except ApiError as error:
        print(f"lingodesk desk: {error}", file=sys.stderr)
        return 1
    if args.command == "queues":
        _print_queues(data)
    elif status == 204:
        print(f"Queue {args.queue} is empty.")
    else:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
