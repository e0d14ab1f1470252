"""Session fixtures for operations tests (a pytest plugin: ``pytest_plugins =
["tests.operations"]``).

- ``shipped_model``: the repo's assistant trained once per session with
  benchmarks/fast_config.yml (cached by tests/servers.py like every e2e model).
- ``shipped_stack``: that model served by :class:`tests.deployments.OperatedStack` for the
  whole session: Rasa, the action server and a Redis that keeps its data across restarts.
  Fault tests kill and restart its parts; each restores them before it ends.
- ``production``: `lingodesk run` with LINGODESK_ENV=production (API token, the shop's origin,
  a session secret the shop's backend shares: ``SESSIONS`` signs as it would), one per module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.assistant import prepare_shipped_assistant
from bot.sessions import SessionSigner
from tests.deployments import LingodeskRun, OperatedStack, shipped_project
from tests.servers import train


@pytest.fixture(scope="session")
def shipped_model(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    project = prepare_shipped_assistant(tmp_path_factory.mktemp("shipped-train"))
    cache = getattr(pytestconfig, "cache", None)
    return train(project, cache_dir=cache.mkdir("lingodesk-models") if cache else None)


@pytest.fixture(scope="session")
def shipped_stack(
    shipped_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatedStack]:
    project = shipped_project(tmp_path_factory.mktemp("shipped-stack"), shipped_model)
    # A Redis restart in a fault test must not make a turn wait long for it.
    with OperatedStack(project, env={"LINGODESK_REDIS_RETRY_SECONDS": "10"}) as stack:
        yield stack


# `lingodesk run` in production, as an attacker meets it (tests/test_security.py,
# tests/test_chat_takeover.py): one per test module.
TOKEN = "e2e-rasa-token"
SHOP = "https://shop.example"
# The shop's backend signs its logged-in customers' sessions with this (bot/sessions.py).
SESSION_SECRET = "e2e-session-secret-of-at-least-thirty-two-bytes"
SESSIONS = SessionSigner(SESSION_SECRET.encode())


@pytest.fixture(scope="module")
def production(
    shipped_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LingodeskRun]:
    project = shipped_project(tmp_path_factory.mktemp("production"), shipped_model)
    run = LingodeskRun(
        project,
        LINGODESK_ENV="production",
        LINGODESK_RASA_TOKEN=TOKEN,
        LINGODESK_CORS_ORIGINS=SHOP,
        LINGODESK_REDIS_RETRY_SECONDS="1",
        LINGODESK_SESSION_SECRET=SESSION_SECRET,
    )
    with run:
        run.wait_until_up()
        yield run
