"""`python -m bot.agent.cli`: the agent API (bot/agent/api.py) from a terminal.

    python -m bot.agent.cli queues                    what is waiting where
    python -m bot.agent.cli claim agents_de           take the next ticket of a queue
    python -m bot.agent.cli show TICKET               the ticket and the conversation so far
    python -m bot.agent.cli reply TICKET "Hallo, ..." write to the customer
    python -m bot.agent.cli heartbeat TICKET          keep the ticket while thinking
    python -m bot.agent.cli close TICKET              done: the bot takes over again

Environment: LINGODESK_AGENT_TOKEN (required), LINGODESK_AGENT_URL (default
http://127.0.0.1:5056), LINGODESK_AGENT_NAME (or --agent; default: the login name).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from bot.agent.api import DEFAULT_PORT, TOKEN_ENV

URL_ENV = "LINGODESK_AGENT_URL"
NAME_ENV = "LINGODESK_AGENT_NAME"


class ApiError(Exception):
    """The agent API answered with an error or could not be reached."""


def call(
    url: str, token: str, agent: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """One request to the agent API: (status, decoded JSON or None)."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "X-Agent": agent,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent_cli", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get(URL_ENV, f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    parser.add_argument("--agent", default=os.environ.get(NAME_ENV) or getpass.getuser())
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("queues", help="queue lengths and waiting times")
    commands.add_parser("claim", help="take the next ticket of a queue").add_argument("queue")
    for name, text in (
        ("show", "a ticket and its conversation"),
        ("heartbeat", "keep a ticket"),
        ("close", "close a ticket"),
    ):
        commands.add_parser(name, help=text).add_argument("ticket")
    reply_parser = commands.add_parser("reply", help="write to the customer")
    reply_parser.add_argument("ticket")
    reply_parser.add_argument("text")
    args = parser.parse_args(argv)

    token = os.environ.get(TOKEN_ENV)
    if not token:
        parser.error(f"set {TOKEN_ENV} to the agent API's token")
    requests = {
        "queues": ("GET", "/queues", None),
        "claim": ("POST", f"/queues/{getattr(args, 'queue', '')}/claim", None),
        "show": ("GET", f"/tickets/{getattr(args, 'ticket', '')}", None),
        "heartbeat": ("POST", f"/tickets/{getattr(args, 'ticket', '')}/heartbeat", None),
        "reply": (
            "POST",
            f"/tickets/{getattr(args, 'ticket', '')}/reply",
            {"text": getattr(args, "text", "")},
        ),
        "close": ("POST", f"/tickets/{getattr(args, 'ticket', '')}/close", None),
    }
    method, path, body = requests[args.command]
    try:
        status, data = call(args.url, token, args.agent, method, path, body)
    except ApiError as error:
        print(f"agent_cli: {error}", file=sys.stderr)
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
