"""Agents' accounts and credentials, kept in the handoff's Redis.

Each person has an account: a name, a role and the teams whose queues they work (the routing
config's ``queues.teams``; a queue not listed there is worked by a team named like the queue).

- ``agent``: sees and works only their teams' queues;
- ``supervisor``: sees every queue, reassigns tickets, reads the audit log;
- ``admin``: a supervisor who also manages accounts.

Credentials, all per person and all revocable:

- a password, stored only as an argon2id hash (argon2-cffi: salted, slow, memory-hard);
- API tokens for the CLI and scripts, ``ldk_<id>_<secret>``: Redis keeps the id, the owner and
  the SHA-256 of the secret (a 256-bit random secret needs no slow hash), with an expiry;
- console sessions: a random 256-bit id in an HttpOnly cookie, which Redis keeps only as its
  SHA-256 with the session's expiry. The id is unguessable and the server holds the state, so
  a session is revoked by deleting its key, and a stolen Redis dump holds no usable cookie.

Keys (one hash tag with the queues, so one Redis Cluster slot):

    {prefix}:account:<name>          hash: role, teams, password (argon2 hash), created_at,
                                     development (1 for the account `lingodesk run` made)
    {prefix}:accounts                set of account names
    {prefix}:token:<id>              hash: name, digest (expires with the token)
    {prefix}:tokens:<name>           set of the account's token ids
    {prefix}:session:<sha256>        the account name (expires with the session)
    {prefix}:sessions:<name>         set of the account's session digests
    {prefix}:login_failures:<sha256> failed logins of one name or address in the throttle window
                                     (expires with it)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from handoff.queues import redis_key
from handoff.redis_errors import translate_redis_errors

ROLES = ("agent", "supervisor", "admin")
NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
TEAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOKEN = re.compile(r"^ldk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
MIN_PASSWORD = 12
TOKEN_DAYS = 90
SESSION_HOURS = 10  # a shift, with some overtime
# Failed logins: this many within the window lock further attempts until it ends.
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 15 * 60


class AccountError(ValueError):
    """A bad account request (unknown account, weak password, bad name); the message says which."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    teams: tuple[str, ...] = ()
    # Made by `lingodesk run` for local development; production refuses to start beside it.
    development: bool = False

    @property
    def supervises(self) -> bool:
        """Sees every queue, reassigns, reads the audit log."""
        return self.role in ("supervisor", "admin")

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "role": self.role, "teams": list(self.teams),
            "development": self.development,
        }  # fmt: skip


def name_key(name: str) -> str:
    """What the login throttle counts failures of one account name under."""
    return f"name:{name}"


def address_key(address: str) -> str:
    """What the login throttle counts failures from one client address under."""
    return f"address:{address}"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise AccountError(
            "an account name is 1-64 lowercase letters, digits or ._@- and starts with a letter "
            "or digit"
        )
    return name


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountStore:
    """Accounts, passwords, tokens and sessions over one Redis connection."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        hasher: PasswordHasher | None = None,
        session_seconds: float = SESSION_HOURS * 3600,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.hasher = hasher or PasswordHasher()
        self.session_seconds = session_seconds
        # Verifying against this when the account does not exist costs the same time as a real
        # check, so response times do not tell which names exist.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def _key(self, kind: str, name: str = "") -> str:
        return redis_key(self.prefix, kind, name) if name else f"{{{self.prefix}}}:{kind}"

    # -- accounts
    @translate_redis_errors
    async def add(
        self,
        name: str,
        role: str,
        teams: Iterable[str],
        password: str,
        development: bool = False,
    ) -> Account:
        check_name(name)
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        teams = tuple(sorted(set(teams)))
        if bad := [t for t in teams if not TEAM.match(t)]:
            raise AccountError(f"bad team name(s): {', '.join(map(repr, bad))}")
        fields = {
            "role": role,
            "teams": ",".join(teams),
            "password": self._hash(password),
            "created_at": str(time.time()),
            "development": "1" if development else "0",
        }
        if not await self.redis.hsetnx(self._key("account", name), "role", role):
            raise AccountError(f"account {name!r} exists")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("account", name), mapping=fields)
            pipe.sadd(self._key("accounts"), name)
            await pipe.execute()
        return Account(name, role, teams, development)

    @translate_redis_errors
    async def get(self, name: str) -> Account | None:
        if not isinstance(name, str) or not NAME.match(name):
            return None
        role, teams, development = await self.redis.hmget(
            self._key("account", name), "role", "teams", "development"
        )
        if role is None:
            return None
        return Account(
            name, role, tuple(t for t in (teams or "").split(",") if t), development == "1"
        )

    async def require(self, name: str) -> Account:
        account = await self.get(check_name(name))
        if account is None:
            raise AccountError(f"no account {name!r}")
        return account

    @translate_redis_errors
    async def all(self) -> list[Account]:
        names = sorted(await self.redis.smembers(self._key("accounts")))
        return [a for a in [await self.get(n) for n in names] if a is not None]

    async def development_accounts(self) -> list[Account]:
        """The accounts `lingodesk run` made for local development (see `Account.development`)."""
        return [account for account in await self.all() if account.development]

    @translate_redis_errors
    async def remove(self, name: str) -> None:
        """Delete the account and end every credential it has."""
        await self.require(name)
        await self.revoke_all(name)
        await self.redis.delete(self._key("account", name))
        await self.redis.srem(self._key("accounts"), name)

    # -- passwords
    def _hash(self, password: str) -> str:
        if not isinstance(password, str) or len(password) < MIN_PASSWORD:
            raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
        return self.hasher.hash(password)

    @translate_redis_errors
    async def set_password(self, name: str, password: str) -> None:
        """A new password; every session and token of the account ends with the old one."""
        await self.require(name)
        await self.redis.hset(self._key("account", name), "password", self._hash(password))
        await self.revoke_all(name)

    @translate_redis_errors
    async def check_password(self, name: str, password: str) -> Account | None:
        """The account when `password` is its password, else None (same cost either way)."""
        stored = None
        if isinstance(name, str) and NAME.match(name):
            stored = await self.redis.hget(self._key("account", name), "password")
        try:
            self.hasher.verify(stored or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return await self.get(name) if stored else None

    # -- API tokens
    @translate_redis_errors
    async def issue_token(self, name: str, days: int = TOKEN_DAYS) -> str:
        """A new API token for `name`: shown once, kept only as its digest."""
        await self.require(name)
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        key = self._key("token", token_id)
        await self.redis.hset(key, mapping={"name": name, "digest": _digest(secret)})
        await self.redis.expire(key, days * 86400)
        await self.redis.sadd(self._key("tokens", name), token_id)
        return f"ldk_{token_id}_{secret}"

    @translate_redis_errors
    async def tokens(self, name: str) -> dict[str, int]:
        """The account's live token ids and the seconds each has left."""
        found = {}
        for token_id in sorted(await self.redis.smembers(self._key("tokens", name))):
            left = await self.redis.ttl(self._key("token", token_id))
            if left > 0:
                found[token_id] = left
            else:  # expired: forget the id too
                await self.redis.srem(self._key("tokens", name), token_id)
        return found

    @translate_redis_errors
    async def revoke_token(self, name: str, token_id: str) -> None:
        """End one token of `name` (a token of another account is left alone)."""
        if not re.fullmatch(r"[0-9a-f]{16}", str(token_id)):
            raise AccountError("a token id is the 16 hex digits after ldk_")
        if not await self.redis.srem(self._key("tokens", check_name(name)), token_id):
            raise AccountError(f"{name!r} has no token {token_id[:32]!r}")
        await self.redis.delete(self._key("token", token_id))

    @translate_redis_errors
    async def account_for_token(self, token: str) -> Account | None:
        match = _TOKEN.match(token)
        if not match:
            return None
        name, digest = await self.redis.hmget(self._key("token", match[1]), "name", "digest")
        if name is None or not hmac.compare_digest(digest or "", _digest(match[2])):
            return None
        return await self.get(name)

    # -- console sessions
    @translate_redis_errors
    async def start_session(self, name: str) -> str:
        """A new session id for the cookie; Redis keeps only its digest, until it expires."""
        session = secrets.token_urlsafe(32)
        digest = _digest(session)
        lifetime = max(1, int(self.session_seconds))
        await self.redis.set(self._key("session", digest), name, ex=lifetime)
        await self.redis.sadd(self._key("sessions", name), digest)
        return session

    @translate_redis_errors
    async def account_for_session(self, session: str) -> Account | None:
        if not isinstance(session, str) or not 20 <= len(session) <= 64:
            return None
        name = await self.redis.get(self._key("session", _digest(session)))
        return await self.get(name) if name else None

    @translate_redis_errors
    async def end_session(self, session: str) -> None:
        digest = _digest(session)
        name = await self.redis.getdel(self._key("session", digest))
        if name:
            await self.redis.srem(self._key("sessions", name), digest)

    @translate_redis_errors
    async def revoke_all(self, name: str) -> int:
        """End every token and session of `name`; how many there were."""
        token_ids = await self.redis.smembers(self._key("tokens", name))
        sessions = await self.redis.smembers(self._key("sessions", name))
        keys = [self._key("token", t) for t in token_ids]
        keys += [self._key("session", s) for s in sessions]
        await self.redis.delete(*keys, self._key("tokens", name), self._key("sessions", name))
        return len(token_ids) + len(sessions)

    # -- failed-login throttle
    @translate_redis_errors
    async def locked_for(self, *who: str) -> int:
        """Seconds until a login for these (name, address) may be tried again; 0 when it may."""
        wait = 0
        for key in (self._key("login_failures", _digest(w)) for w in who):
            if int(await self.redis.get(key) or 0) >= MAX_FAILURES:
                wait = max(wait, await self.redis.ttl(key), 1)
        return wait

    @translate_redis_errors
    async def record_failure(self, *who: str) -> None:
        for key in (self._key("login_failures", _digest(w)) for w in who):
            if await self.redis.incr(key) == 1:
                await self.redis.expire(key, FAILURE_WINDOW_SECONDS)

    @translate_redis_errors
    async def clear_failures(self, *who: str) -> None:
        """Forget the failed logins of these names or addresses (a login, an admin's unlock)."""
        await self.redis.delete(*(self._key("login_failures", _digest(w)) for w in who))
