"""Agents' accounts, credentials, rights and the audit log (#30) against a real Redis."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from argon2 import PasswordHasher

from bot.agent.accounts import MAX_FAILURES, Account, AccountError, AccountStore
from bot.agent.audit import AuditLog
from bot.agent.authorization import ForbiddenError, allowed, require

pytest_plugins = ["tests.redis_server"]
pytestmark = [pytest.mark.redis, pytest.mark.anyio]

PASSWORD = "correct horse battery"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.close()


@pytest.fixture
def store(client: redis.Redis) -> AccountStore:
    # The cheapest argon2id parameters: the tests check behaviour, not cost.
    return AccountStore(
        client, "lingodesk", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


async def test_passwords_are_kept_only_as_argon2_hashes(
    store: AccountStore, client: redis.Redis
) -> None:
    ana = await store.add("ana", "agent", ["agents_de"], PASSWORD)
    assert ana.teams == ("agents_de",) and not ana.supervises and not ana.development
    stored = await client.hgetall("{lingodesk}:account:ana")
    assert stored["password"].startswith("$argon2id$") and PASSWORD not in str(stored)
    assert await store.check_password("ana", PASSWORD) == ana
    assert await store.check_password("ana", PASSWORD + "!") is None
    assert await store.check_password("nobody", PASSWORD) is None
    with pytest.raises(AccountError, match="exists"):
        await store.add("ana", "admin", [], PASSWORD)
    for bad in ("Ana", "../x", "", "a" * 65, "a b"):
        with pytest.raises(AccountError, match="account name"):
            await store.add(bad, "agent", [], PASSWORD)
    with pytest.raises(AccountError, match="at least 12"):
        await store.add("bruno", "agent", [], "short")
    with pytest.raises(AccountError, match="role"):
        await store.add("bruno", "root", [], PASSWORD)


async def test_tokens_and_sessions_are_per_person_and_revocable(
    store: AccountStore, client: redis.Redis
) -> None:
    await store.add("ana", "agent", ["agents_de"], PASSWORD)
    boss = await store.add("carla", "supervisor", [], PASSWORD)
    token = await store.issue_token("carla")
    session = await store.start_session("carla")
    assert await store.account_for_token(token) == boss
    assert await store.account_for_session(session) == boss
    # Redis holds neither the secret nor the cookie value.
    dump = str([await client.dump(k) for k in await client.keys("*")])
    assert token.split("_", 2)[2] not in dump and session not in dump
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert await store.account_for_token(forged) is None
    assert await store.account_for_token("ldk_../../x") is None
    assert await store.account_for_session("x" * 43) is None

    await store.end_session(session)
    assert await store.account_for_session(session) is None
    assert await store.account_for_token(token) == boss
    # One token ends alone; another account's token id is not this account's to end.
    second = await store.issue_token("carla")
    second_id = second.split("_")[1]
    assert set(await store.tokens("carla")) == {token.split("_")[1], second_id}
    with pytest.raises(AccountError, match="no token"):
        await store.revoke_token("ana", second_id)
    await store.revoke_token("carla", second_id)
    assert await store.account_for_token(second) is None
    assert await store.account_for_token(token) == boss
    await store.set_password("carla", PASSWORD + " two")  # ends every credential
    assert await store.account_for_token(token) is None
    ana_token = await store.issue_token("ana")
    await store.remove("ana")
    assert await store.account_for_token(ana_token) is None and await store.get("ana") is None
    assert [a.name for a in await store.all()] == ["carla"]


async def test_failed_logins_are_throttled_per_name_and_address(store: AccountStore) -> None:
    for _ in range(MAX_FAILURES - 1):
        await store.record_failure("ana", "10.0.0.1")
    assert await store.locked_for("ana", "10.0.0.1") == 0
    await store.record_failure("ana", "10.0.0.1")
    assert 0 < await store.locked_for("ana", "10.0.0.9") <= 15 * 60  # the name is locked
    assert await store.locked_for("bruno", "10.0.0.1") > 0  # and the address
    assert await store.locked_for("bruno", "10.0.0.9") == 0
    await store.clear_failures("ana")
    assert await store.locked_for("ana", "10.0.0.9") == 0


async def test_sessions_expire(client: redis.Redis) -> None:
    store = AccountStore(
        client, "lingodesk", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1),
        session_seconds=1,
    )  # fmt: skip
    await store.add("ana", "agent", ["agents_de"], PASSWORD, development=True)
    session = await store.start_session("ana")
    assert await store.account_for_session(session) is not None
    assert 0 < await client.ttl(f"{{lingodesk}}:session:{_sha256(session)}") <= 1
    assert [a.name for a in await store.development_accounts()] == ["ana"]
    await asyncio.sleep(1.2)
    assert await store.account_for_session(session) is None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


AGENT_DE = Account("ana", "agent", ("agents_de",))
SUPERVISOR = Account("carla", "supervisor")
ADMIN = Account("root", "admin")
QUEUE_ACTIONS = ("see_queue", "show", "claim", "reply", "note", "heartbeat", "transfer", "close")


@pytest.mark.parametrize(
    ("account", "action", "team", "expected"),
    [
        *[(AGENT_DE, a, "agents_de", True) for a in QUEUE_ACTIONS],
        *[(AGENT_DE, a, "agents_it", False) for a in QUEUE_ACTIONS],
        *[(AGENT_DE, a, None, False) for a in QUEUE_ACTIONS],
        *[(SUPERVISOR, a, "agents_it", True) for a in QUEUE_ACTIONS],
        (AGENT_DE, "reassign", "agents_de", False),
        (AGENT_DE, "read_audit", None, False),
        (AGENT_DE, "manage_accounts", None, False),
        (SUPERVISOR, "reassign", "agents_it", True),
        (SUPERVISOR, "read_audit", None, True),
        (SUPERVISOR, "manage_accounts", None, False),
        (ADMIN, "reassign", "agents_it", True),
        (ADMIN, "manage_accounts", None, True),
    ],
)
def test_rights_by_role_and_team(
    account: Account, action: str, team: str | None, expected: bool
) -> None:
    assert allowed(account, action, team) is expected  # type: ignore[arg-type]
    if not expected:
        with pytest.raises(ForbiddenError, match="may not"):
            require(account, action, team)  # type: ignore[arg-type]


async def test_the_audit_log_reads_back_in_order(client: redis.Redis) -> None:
    audit = AuditLog(client, "lingodesk")
    await audit.record("ana", "login", address="10.0.0.1")
    await audit.record("ana", "claim", ticket="t1", queue="agents_de")
    await audit.record("bruno", "claim", ticket="t2", queue="agents_de")
    await audit.record("ana", "reply", ticket="t1")
    await audit.record("carla", "reassign", ticket="t1", account="bruno")
    await audit.record("ana", "close", ticket="t1")
    assert [e.action for e in await audit.entries()] == [
        "login", "claim", "claim", "reply", "reassign", "close",
    ]  # fmt: skip
    assert (await audit.entries())[0].to_dict()["address"] == "10.0.0.1"
    assert [e.action for e in await audit.entries(ticket="t1")] == [
        "claim", "reply", "reassign", "close",
    ]  # fmt: skip
    assert [e.ticket for e in await audit.entries(who="bruno")] == ["t2"]
    assert [e.action for e in await audit.entries(account="bruno")] == ["claim", "reassign"]
    assert [e.action for e in await audit.entries(count=2)] == ["reassign", "close"]
    with pytest.raises(ValueError, match="unknown audit action"):
        await audit.record("ana", "delete_everything")


async def test_audit_entries_older_than_the_retention_are_trimmed(client: redis.Redis) -> None:
    audit = AuditLog(client, "lingodesk", retention_days=1)
    # Two entries from ten days ago (explicit stream ids), then a new one: XADD trims them.
    old_ms = int((time.time() - 10 * 86400) * 1000)
    for n in range(2):
        entry = {"at": str(old_ms / 1000), "who": "ana", "action": "login"}
        await client.xadd(audit.key, entry, id=f"{old_ms}-{n}")
    await audit.record("bruno", "login")
    assert [e.who for e in await audit.entries()] == ["bruno"]
