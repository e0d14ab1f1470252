"""Who may do what on the agents' side: one pure function over (role, teams, action, team),
checked by every route, tested as a table (Request Tracker's rights per queue, reduced to the
three roles a support desk has).

- An ``agent`` works the queues of their own teams: sees them, reads, claims, answers,
  notes, transfers and closes their tickets.
- A ``supervisor`` does that on every queue, and also reassigns tickets and reads the audit log.
- An ``admin`` is a supervisor who also manages accounts.

Holding the ticket (claim before reply and close) is checked by the queues themselves.
"""

from __future__ import annotations

from typing import Literal

from bot.agent.accounts import Account

Action = Literal[
    "see_queue", "show", "claim", "reply", "note", "heartbeat", "transfer", "close",
    "reassign", "read_audit", "manage_accounts",
]  # fmt: skip
# Actions on one queue's tickets: allowed to the queue's team and to supervisors.
QUEUE_ACTIONS = frozenset(
    {"see_queue", "show", "claim", "reply", "note", "heartbeat", "transfer", "close"}
)
SUPERVISOR_ACTIONS = frozenset({"reassign", "read_audit"})
ADMIN_ACTIONS = frozenset({"manage_accounts"})


class ForbiddenError(Exception):
    """The account may not do this; the message says what it may not do, nothing more."""


def allowed(account: Account, action: Action, team: str | None = None) -> bool:
    """Whether `account` may do `action` (on a queue worked by `team`, for queue actions)."""
    if action in ADMIN_ACTIONS:
        return account.role == "admin"
    if action in SUPERVISOR_ACTIONS:
        return account.supervises
    if action in QUEUE_ACTIONS:
        return account.supervises or (team is not None and team in account.teams)
    raise ValueError(f"unknown action {action!r}")


def require(account: Account, action: Action, team: str | None = None) -> None:
    """Raise `ForbiddenError` unless `allowed`."""
    if not allowed(account, action, team):
        what = "tickets of this queue" if action in QUEUE_ACTIONS else "this"
        raise ForbiddenError(f"your account may not {action.replace('_', ' ')} {what}")
