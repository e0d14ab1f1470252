"""Server-issued session tokens (bot/sessions.py): what a REST client or the widget must carry
so that it can only ever write into its own conversation."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import jwt
import pytest

from bot.sessions import (
    InvalidSession,
    SessionSecretError,
    SessionSigner,
    development_secret,
)

SECRET = b"a-test-secret-that-is-at-least-32-bytes-long"
SIGNER = SessionSigner(SECRET)


def test_a_token_names_its_conversation_and_new_ones_are_unguessable() -> None:
    assert SIGNER.conversation_id(SIGNER.issue("shop-customer-4711")) == "shop-customer-4711"
    first, second = (SIGNER.conversation_id(SIGNER.issue()) for _ in range(2))
    assert first != second and len(first) == 32


@pytest.mark.parametrize(
    "forged",
    [
        "alice",  # the bare conversation id, as a takeover over REST would send it
        SessionSigner(b"another-deployments-secret-32-bytes-or-more").issue("alice"),
        jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, None, algorithm="none"),
        jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"),  # no expiry
        jwt.encode({"sub": "../admin", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
        jwt.encode({"sub": "alice", "exp": int(time.time()) - 10}, SECRET, algorithm="HS256"),
        "x" * 5000,
        None,
        "",
        42,
    ],
)
def test_forged_expired_and_malformed_tokens_are_refused(forged: object) -> None:
    """Attack: naming someone else's conversation with anything but a token this deployment
    signed for it (a bare id, another key, alg "none", no or past expiry, a path in `sub`)."""
    with pytest.raises(InvalidSession):
        SIGNER.conversation_id(forged)


def test_a_short_or_missing_secret_is_refused_with_what_to_set() -> None:
    with pytest.raises(SessionSecretError, match="at least 32 bytes"):
        SessionSigner(b"too-short")
    with pytest.raises(SessionSecretError, match="LINGODESK_SESSION_SECRET is not set"):
        SessionSigner.from_environment({})


def test_an_invalid_conversation_id_is_never_signed() -> None:
    with pytest.raises(ValueError):
        SIGNER.issue("a/b")


def test_the_development_secret_is_kept_private_and_survives_a_restart(tmp_path: Path) -> None:
    secret = development_secret(tmp_path / ".run")
    path = tmp_path / ".run" / "session-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert development_secret(tmp_path / ".run") == secret
    SessionSigner(secret.encode())  # long enough to sign with


def test_a_new_session_returns_the_conversation_its_token_names() -> None:
    token, conversation = SIGNER.new_session()
    assert SIGNER.conversation_id(token) == conversation
