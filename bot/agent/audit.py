"""The agents' audit log: who did what to which ticket or account, when, from where, in a
Redis stream.

Every state change of the agents' side (login, failed login, logout, claim, reply, transfer,
private note, reassignment, close, and every change to an account or credential) is appended to
``{prefix}:audit:log`` by the code that made the change, after it succeeded. Stream ids are
time-ordered, so the log reads back in the order things happened, across API servers sharing
one Redis. Retention: entries older than `retention_days` are trimmed as new ones arrive
(XTRIM MINID), and the stream never holds much more than `max_entries`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as redis

from handoff.queues import redis_key
from handoff.redis_errors import translate_redis_errors

TICKET_ACTIONS = ("claim", "reply", "note", "transfer", "reassign", "close")
SESSION_ACTIONS = ("login", "login_failed", "logout")
ACCOUNT_ACTIONS = (
    "account_added", "account_removed", "password_changed", "token_issued", "token_revoked",
    "credentials_revoked", "account_unlocked",
)  # fmt: skip
ACTIONS = (*SESSION_ACTIONS, *TICKET_ACTIONS, *ACCOUNT_ACTIONS)
RETENTION_DAYS = 365
MAX_ENTRIES = 1_000_000
_FIELDS = ("who", "action", "ticket", "queue", "account", "detail", "address")
_PAGE = 500


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: float
    who: str
    action: str
    ticket: str = ""
    queue: str = ""
    account: str = ""  # the account an account change or a reassignment was about
    detail: str = ""
    address: str = ""  # the client's address

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v != ""}


class AuditLog:
    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        retention_days: float = RETENTION_DAYS,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.redis = client
        self.key = redis_key(prefix, "audit", "log")
        self.retention_days = retention_days
        self.max_entries = max_entries

    @translate_redis_errors
    async def record(self, who: str, action: str, **about: str) -> str:
        """Append one entry; `about` names the ticket, queue, account, detail and address."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        if unknown := set(about) - set(_FIELDS):
            raise ValueError(f"unknown audit field(s) {sorted(unknown)}")
        now = time.time()
        fields = {"at": f"{now:.3f}", "who": who, "action": action}
        fields |= {k: v for k, v in about.items() if v}
        oldest_ms = int((now - self.retention_days * 86400) * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.key, fields, maxlen=self.max_entries, approximate=True)
            # Exact: each trim evicts only what aged out since the last entry.
            pipe.xtrim(self.key, minid=max(0, oldest_ms), approximate=False)
            entry_id, _ = await pipe.execute()
        return entry_id

    @translate_redis_errors
    async def entries(
        self,
        count: int = 100,
        ticket: str | None = None,
        who: str | None = None,
        account: str | None = None,
    ) -> list[AuditEntry]:
        """The last `count` entries, oldest first, optionally of one ticket, one actor, or one
        account (as actor or subject)."""
        found: list[AuditEntry] = []
        last = "+"
        while len(found) < count:
            batch = await self.redis.xrevrange(self.key, max=last, count=_PAGE)
            for entry_id, fields in batch:
                if ticket and fields.get("ticket") != ticket:
                    continue
                if who and fields.get("who") != who:
                    continue
                if account and account not in (fields.get("who"), fields.get("account")):
                    continue
                named = {k: fields.get(k, "") for k in _FIELDS}
                found.append(AuditEntry(entry_id, float(fields["at"]), **named))
            if len(batch) < _PAGE:
                break
            last = f"({batch[-1][0]}"
        return list(reversed(found[:count]))
