"""The agents' side as `lingodesk run` starts it: the development account made on the first run,
and production refusing to start beside it (real processes, a real Redis)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from bot.agent.accounts import AccountStore
from bot.supervisor import RedisServer, free_port, single_core_environment
from tests.agents import FAST_HASHER, PASSWORD

pytest_plugins = ["tests.redis_server"]
pytestmark = [pytest.mark.redis]


async def _store_call(url: str, method: str, *args, **kwargs):
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        return await getattr(AccountStore(client, "lingodesk", FAST_HASHER), method)(
            *args, **kwargs
        )
    finally:
        await client.close()


def test_production_refuses_to_start_beside_the_development_account(
    redis_server: RedisServer, redis_url: str
) -> None:
    """Attack: a desk deployed to production with the development account (and the password
    printed in some terminal) still enabled. The API refuses, in one sentence."""
    asyncio.run(_store_call(redis_url, "add", "dev-admin", "admin", (), PASSWORD, development=True))
    env = single_core_environment(LINGODESK_REDIS_URL=redis_url, LINGODESK_ENV="production")
    refused = subprocess.run(
        [sys.executable, "-m", "bot.agent.api", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "lingodesk agent API: LINGODESK_ENV=production refuses to start while the development "
        "account dev-admin is enabled: remove it with `lingodesk agents remove dev-admin`."
    ]


def test_lingodesk_run_makes_a_development_account_once_and_production_refuses_it(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    """The first `lingodesk run` creates an admin with a generated password, printed once
    (before training can fail); later runs create none; production refuses to start while
    it exists. Attack covered: a fixed default password anyone could look up."""
    env = single_core_environment(LINGODESK_REDIS_PORT=str(redis_server.port))
    command = [sys.executable, "-m", "bot.cli", "--project", str(tmp_path), "run", "--no-train"]

    def lingodesk_run(**extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, env={**env, **extra}, capture_output=True, text=True, timeout=120
        )

    first, second = lingodesk_run(), lingodesk_run()
    created = [line for line in first.stdout.splitlines() if "development account" in line]
    assert len(created) == 1, first.stdout + first.stderr
    name, password = created[0].split()[-5], created[0].split()[-1]
    assert name == "dev-admin" and len(password) >= 20
    assert "No trained model" in first.stderr  # it went on to the next step
    assert "development account" not in second.stdout
    assert password not in second.stdout + second.stderr

    account = asyncio.run(_store_call(redis_url, "check_password", name, password))
    assert account is not None and account.role == "admin" and account.development
    refused = lingodesk_run(
        LINGODESK_ENV="production", LINGODESK_RASA_TOKEN="t" * 32, LINGODESK_SESSION_SECRET="s" * 48
    )
    assert refused.returncode == 1
    # (Rasa's import may print a SQLAlchemy deprecation warning first.)
    assert [line for line in refused.stderr.splitlines() if "lingodesk" in line] == [
        "lingodesk: LINGODESK_ENV=production refuses to start while the development account "
        "dev-admin is enabled: remove it with `lingodesk agents remove dev-admin`."
    ]
