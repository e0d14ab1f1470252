"""Security promises: personal data stays out of logs and (when configured) out of tickets;
Rasa's HTTP API needs a token outside local development; browsers may call Rasa only from the
configured origins; the action server and Redis listen on loopback."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import signal
import sys
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import cli
from bot.supervisor import Service, action_server_command, free_port
from handoff.config import ConfigError
from handoff.config_loader import load_config
from handoff.redaction import REMOVED, RedactingFilter, install_log_redaction, redact
from tests.deployments import LingodeskRun, listening_addresses
from tests.operations import SESSIONS, SHOP, TOKEN
from tests.servers import REPO_ROOT, http_json
from tests.test_actions import Chat, config_for

pytest_plugins = ["tests.redis_server", "tests.operations"]

EMAIL = "anna.berg+shop@example.co.uk"
ORDER = "LD-482913"
PHONE = "+49 170 1234567"
CARD = "4111 1111 1111 1111"
TRACKING = "1Z999AA10123456784"
SECRETS = [EMAIL, ORDER, PHONE, CARD, TRACKING, "1234567"]
CUSTOMER_TEXT = "my blender exploded and I am furious"

# -- redaction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"write to {EMAIL}!", "write to [email]!"),
        (f"order {ORDER}, ld 123456 and LD123456", "order [order], [order] and [order]"),
        (f"call {PHONE} or (555) 123-4567", "call [number] or [number]"),
        (f"card {CARD} / 4111-1111-1111-1111", "card [card] / [card]"),
        (f"UPS {TRACKING}, DHL JJD000390007123456789", "UPS [tracking], DHL [tracking]"),
        ("12-digit parcel 123456789012", "12-digit parcel [number]"),
        # what support needs to read stays: dates, prices, quantities, times, sizes
        ("on 2026-11-28 at 14:56 I paid 49.99 EUR for 3 shirts, size 42", None),
    ],
)
def test_personal_data_is_masked_and_the_rest_kept(text: str, expected: str | None) -> None:
    assert redact(text) == (expected or text)


personal = st.one_of(
    st.emails(),
    st.from_regex(r"\A[Ll][Dd]-?[0-9]{6}\Z"),
    st.from_regex(r"\A\+[1-9][0-9]{1,2} [0-9]{3} [0-9]{6,8}\Z"),
    st.from_regex(r"\A[0-9]{4}( [0-9]{4}){3}\Z"),
)
# Words around the data: any letters, never digits, "@" or "+" glued to it.
prose = st.text(st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="@+"))


@settings(max_examples=300, deadline=None)
@given(before=prose, secret=personal, after=prose)
def test_no_personal_data_survives_in_any_sentence(before: str, secret: str, after: str) -> None:
    masked = redact(f"{before} {secret} {after}")
    assert secret not in masked
    assert redact(masked) == masked  # placeholders are stable


@settings(max_examples=50, deadline=None)
@given(st.text(st.characters(blacklist_categories=()), min_size=1, max_size=50))
def test_redaction_stays_linear_on_long_junk(piece: str) -> None:
    start = time.perf_counter()
    redact(piece * (100_000 // len(piece)))  # a 100,000-character message in the log
    assert time.perf_counter() - start < 1.0


def _record(message: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("rasa.core", level, __file__, 1, message, args, None)


def _filtered(record: logging.LogRecord) -> str:
    RedactingFilter().filter(record)
    return logging.Formatter().format(record)


def test_log_records_above_debug_are_redacted() -> None:
    line = _filtered(_record("Handoff of %s delayed for order %s", EMAIL, ORDER))
    assert line == "Handoff of [email] delayed for order [order]"
    debug = _record("parsed %s", EMAIL, level=logging.DEBUG)
    assert _filtered(debug) == f"parsed {EMAIL}"  # DEBUG keeps what debugging needs


def test_rasa_json_events_lose_the_customers_words_and_traceback_locals() -> None:
    """What Rasa's REST channel logs when a message fails (structlog's JSON renderer)."""
    event = {
        "text": f"{CUSTOMER_TEXT}, call {PHONE}",
        "event": "rest.message.received.failure",
        "level": "error",
        "exception": [
            {
                "exc_type": "LockError",
                "exc_value": f"no lock for conversation {EMAIL}",
                "frames": [{"name": "receive", "locals": {"text": f"'{CUSTOMER_TEXT}'"}}],
            }
        ],
    }
    logged = json.loads(_filtered(_record(json.dumps(event), level=logging.ERROR)))
    assert logged["text"] == REMOVED and logged["event"] == "rest.message.received.failure"
    assert logged["exception"][0]["exc_value"] == "no lock for conversation [email]"
    assert "locals" not in logged["exception"][0]["frames"][0]


def test_tracebacks_are_redacted_too() -> None:
    try:
        raise ValueError(f"cannot parse {ORDER} for {EMAIL}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = _filtered(record)
    assert "ValueError: cannot parse [order] for [email]" in line and EMAIL not in line


def test_the_filter_installs_once_on_handlers() -> None:
    logger = logging.getLogger("lingodesk.test.redaction")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        install_log_redaction(logger)
        install_log_redaction(logger)  # idempotent
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)


# -- handoff transcript ---------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.anyio
async def test_ticket_transcript_is_redacted_when_configured(redis_url: str) -> None:
    from handoff.delivery import HandoffServices

    config = config_for(redis_url, redact_transcript=True)
    services = HandoffServices(config)
    try:
        chat = Chat(services)
        entities = [{"entity": "order_number", "value": ORDER, "start": 9, "end": 18}]
        await chat.say(f"my order {ORDER} never came, mail me at {EMAIL}", entities=entities)
        await chat.say("I want a human", language="en", intent="request_human")
        ticket = await services.queues.get(chat.slots["handoff_ticket"]["ticket_id"])
    finally:
        await services.queues.aclose()
    assert [line["text"] for line in ticket.transcript] == [
        "my order [order] never came, mail me at [email]",
        "I want a human",
    ]
    assert ticket.entities["order_number"] == ORDER  # the agent still gets the order


def test_redact_transcript_is_a_checked_boolean(tmp_path: Path) -> None:
    path = tmp_path / "routing.yml"
    path.write_text("handoff:\n  redact_transcript: true\n")
    assert load_config(path, environ={}).handoff.redact_transcript is True
    assert load_config(REPO_ROOT / "handoff" / "routing.yml", environ={}).handoff == (
        dataclasses.replace(load_config(path, environ={}).handoff, redact_transcript=False)
    )
    path.write_text("handoff:\n  redact_transcript: 'yes'\n")
    with pytest.raises(ConfigError, match="redact_transcript must be true or false"):
        load_config(path, environ={})


# -- lingodesk run: tokens, CORS ------------------------------------------------------------


@pytest.mark.parametrize(
    ("interface", "environment"),
    [("127.0.0.1", {"LINGODESK_ENV": "production"}), ("0.0.0.0", {})],
)
def test_run_refuses_an_open_api_outside_local_development(
    interface: str,
    environment: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("LINGODESK_RASA_TOKEN", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    redis_port = free_port()
    monkeypatch.setenv("LINGODESK_REDIS_PORT", str(redis_port))
    started = time.monotonic()
    argv = ["--project", str(tmp_path), "run", "--no-train", "--interface", interface]
    sigterm = signal.getsignal(signal.SIGTERM)  # `run` installs its own handler
    try:
        assert cli.main(argv) == 1
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert "LINGODESK_RASA_TOKEN" in capsys.readouterr().err
    assert time.monotonic() - started < 5  # refused before starting anything
    assert not listening_addresses(redis_port) and not (tmp_path / ".run").exists()


def test_token_and_origins_come_from_the_environment() -> None:
    env = {"LINGODESK_RASA_TOKEN": "s3cret", "LINGODESK_CORS_ORIGINS": "https://a.example b.ex"}
    assert cli.rasa_api_options("0.0.0.0", env) == ["--auth-token", "s3cret"]
    assert cli.rasa_api_options("127.0.0.1", {}) == []  # local development stays easy
    args = argparse.Namespace(cors=None, web_port=8080)
    assert cli.cors_origins(args, env) == ["https://a.example", "b.ex"]
    assert cli.cors_origins(args, {}) == ["http://127.0.0.1:8080"]  # the demo shop only


# -- action server --------------------------------------------------------------------------


@pytest.fixture
def action_server() -> Iterator[int]:
    port = free_port()
    with Service("action server", action_server_command(port), cwd=REPO_ROOT, quiet=True) as server:
        # Ready once it listens at all: where it listens is what the test checks.
        server.wait_until(lambda: bool(listening_addresses(port)), 60, "listen", interval=0.2)
        yield port


def test_action_server_listens_on_loopback_only(action_server: int) -> None:
    assert listening_addresses(action_server) == {"127.0.0.1"}
    actions = {a["name"] for a in http_json(f"http://127.0.0.1:{action_server}/actions")}
    assert {"action_analyse_turn", "action_handoff"} <= actions


def test_run_refuses_production_without_a_session_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Production must bring its own session secret: a generated one on each machine would
    make sessions unverifiable across servers and the shop's backend unable to sign."""
    monkeypatch.setenv("LINGODESK_ENV", "production")
    monkeypatch.setenv("LINGODESK_RASA_TOKEN", "a-token")
    monkeypatch.delenv("LINGODESK_SESSION_SECRET", raising=False)
    redis_port = free_port()
    monkeypatch.setenv("LINGODESK_REDIS_PORT", str(redis_port))
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        assert cli.main(["--project", str(tmp_path), "run", "--no-train"]) == 1
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert "LINGODESK_SESSION_SECRET is not set" in capsys.readouterr().err
    assert not listening_addresses(redis_port) and not (tmp_path / ".run").exists()


# -- end to end: lingodesk run in production (tests/operations.py's `production`) ----------


@pytest.mark.e2e
def test_http_api_needs_the_token_but_customers_do_not(production: LingodeskRun) -> None:
    tracker = f"{production.url}/conversations/alice/tracker"
    with pytest.raises(urllib.error.HTTPError) as refused:
        http_json(tracker)
    assert refused.value.code == 401
    answer = requests.post(
        f"{production.url}/webhooks/rest/webhook",
        json={"sender": SESSIONS.issue("alice"), "message": "hello"},
        timeout=60,
    )
    assert answer.status_code == 200 and answer.json()
    events = http_json(f"{tracker}?token={TOKEN}")["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == ["hello"]


@pytest.mark.e2e
def test_browsers_may_call_rasa_from_the_shop_only(production: LingodeskRun) -> None:
    def allowed_origin(origin: str) -> str | None:
        answer = requests.options(
            f"{production.url}/webhooks/rest/webhook",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            timeout=30,
        )
        return answer.headers.get("Access-Control-Allow-Origin")

    assert allowed_origin(SHOP) == SHOP
    assert allowed_origin("https://evil.example") is None


@pytest.mark.e2e
def test_services_listen_on_loopback(production: LingodeskRun) -> None:
    for port in (production.port, production.actions_port, production.redis_port):
        assert listening_addresses(port) == {"127.0.0.1"}, port


@pytest.mark.e2e
def test_failures_are_logged_without_the_customers_words(production: LingodeskRun) -> None:
    """Redis gone: Rasa logs the failed message at ERROR, with text and traceback locals, in
    JSON (production). None of the customer's words or data may reach the log. (Last in this
    module: it stops the production stack's Redis.)"""
    redis.Redis(port=production.redis_port).shutdown(nosave=True)
    text = f"{CUSTOMER_TEXT}! Order {ORDER}, mail {EMAIL}, phone {PHONE}, card {CARD}"
    answer = requests.post(
        f"{production.url}/webhooks/rest/webhook",
        json={"sender": SESSIONS.issue(EMAIL), "message": text},
        timeout=60,
    )
    assert answer.status_code == 200
    deadline = time.monotonic() + 30
    while "rest.message.received.failure" not in production.output():
        assert time.monotonic() < deadline, production.output()[-3000:]
        time.sleep(0.5)
    log = production.output()
    leaked = [s for s in [CUSTOMER_TEXT, *SECRETS] if re.search(re.escape(s), log)]
    assert not leaked, log[-3000:]
