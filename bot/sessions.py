"""Conversation ids that lingodesk issues, so that no client can name another customer's
conversation.

A customer's conversation is named by a signed session token. The chat widget gets one when
its socket.io session is confirmed, a REST client from ``POST /webhooks/rest/session``; every
message carries it (REST: as ``sender``), and the channels (bot/channels.py) read the
conversation id out of it only when its signature and expiry check out. Tickets, logs and the
agents' console show the conversation id, never the token, so knowing an id gives nothing.

The token is a JWT (HS256, RFC 7519) whose subject is the conversation id. A shop whose
customers are logged in signs ``{"sub": "<its customer id>", "exp": <unix time>}`` with the
same secret in its own backend, with any JWT library, and hands the token to its page: one
customer then keeps one conversation across devices, and nobody else can open it.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt

from handoff.ids import is_conversation_id

SESSION_SECRET_ENV = "LINGODESK_SESSION_SECRET"
ALGORITHM = "HS256"
# RFC 7518 3.2: an HS256 key of fewer than 256 bits can be guessed offline from any token.
MIN_SECRET_BYTES = 32
# A token longer than this is not one lingodesk or a shop's backend would issue.
MAX_TOKEN_CHARS = 2048
DEFAULT_LIFETIME_SECONDS = 30 * 24 * 3600
# Where `lingodesk run` keeps the secret it generated for local development (under .run/).
DEVELOPMENT_SECRET_FILE = "session-secret"


class InvalidSession(Exception):
    """The token is missing, malformed, forged or expired; the message is safe to return."""


class SessionSecretError(RuntimeError):
    """No usable signing secret; the message says what to set."""


@dataclass(frozen=True)
class SessionSigner:
    """Issues and checks the session tokens of one deployment (one shared secret)."""

    secret: bytes
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise SessionSecretError(
                f"{SESSION_SECRET_ENV} must be at least {MIN_SECRET_BYTES} bytes, e.g. the "
                "output of: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> SessionSigner:
        secret = env.get(SESSION_SECRET_ENV, "")
        if not secret:
            raise SessionSecretError(
                f"{SESSION_SECRET_ENV} is not set: `lingodesk run` generates one for local "
                "development; in production set it to 32 or more random bytes (the shop's "
                "backend signs logged-in customers' sessions with the same secret)."
            )
        return cls(secret.encode())

    def issue(self, conversation_id: str | None = None) -> str:
        """A token for ``conversation_id``, or for a new random conversation."""
        if conversation_id is None:
            return self.new_session()[0]
        if not is_conversation_id(conversation_id):
            raise ValueError(f"not a valid conversation id: {conversation_id!r}")
        now = int(time.time())
        claims = {"sub": conversation_id, "iat": now, "exp": now + self.lifetime_seconds}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def new_session(self) -> tuple[str, str]:
        """(token, conversation id) of a new conversation with a random, unguessable id."""
        conversation_id = uuid.uuid4().hex
        return self.issue(conversation_id), conversation_id

    def conversation_id(self, token: object) -> str:
        """The conversation a token names; raises InvalidSession unless it is genuine and
        current. Only HS256 is accepted (never ``none``, never a key the token names)."""
        if not isinstance(token, str) or not token:
            raise InvalidSession("a session token is required (POST /webhooks/rest/session)")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidSession("the session token is too long")
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]}
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidSession("the session has expired; start a new one") from error
        except jwt.PyJWTError as error:
            raise InvalidSession("the session token is not valid") from error
        subject = claims["sub"]
        if not is_conversation_id(subject):
            raise InvalidSession("the session token names no valid conversation id")
        return subject


def development_secret(directory: Path) -> str:
    """The signing secret of a local development deployment: generated once and kept in
    ``directory`` (readable by its owner only), so the widget's sessions survive a restart."""
    path = directory / DEVELOPMENT_SECRET_FILE
    if path.is_file():
        stored = path.read_text().strip()
        if len(stored.encode()) >= MIN_SECRET_BYTES:
            return stored
    directory.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    return secret
