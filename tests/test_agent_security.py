"""Attacks on the agents' side, against a real agent API process (``python -m bot.agent.api``),
a real Redis, and a recording stand-in for Rasa's HTTP API on a port of its own: each test
names its attack and checks that Redis and Rasa saw nothing of it."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from bot.supervisor import RedisServer, Service, free_port, single_core_environment
from handoff.queues import TicketQueues
from tests.agents import (
    PASSWORD,
    RecordingRasaServer,
    add_account,
    bearer,
    config_for,
    escalate,
)

pytest_plugins = ["tests.redis_server"]
pytestmark = [pytest.mark.redis]


class AgentApi:
    """A running ``python -m bot.agent.api`` and the stand-in Rasa it talks to."""

    def __init__(self, service: Service, port: int, rasa: RecordingRasaServer) -> None:
        self.service = service
        self.url = f"http://127.0.0.1:{port}"
        self.rasa = rasa

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", timeout=10, **kwargs)


def start_api(
    tmp: Path, redis_server: RedisServer, rasa: RecordingRasaServer, **env: str
) -> tuple[Service, int]:
    port = free_port()
    service = Service(
        "agent API",
        [sys.executable, "-m", "bot.agent.api", "--port", str(port)],
        env=single_core_environment(
            LINGODESK_REDIS_URL=f"{redis_server.url}/2", LINGODESK_RASA_URL=rasa.url, **env
        ),
        log=tmp / f"agent-api-{port}.log",
    ).start()
    try:
        service.wait_for_url(f"http://127.0.0.1:{port}/health", timeout=60)
    except BaseException:
        service.stop()
        raise
    return service, port


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[AgentApi]:
    with RecordingRasaServer() as rasa:
        service, port = start_api(tmp_path_factory.mktemp("agent-api"), redis_server, rasa)
        try:
            yield AgentApi(service, port, rasa)
        finally:
            service.stop()


@pytest.fixture
def db(redis_url: str, api: AgentApi) -> Iterator[redis.Redis]:
    """The handoff database (flushed), with the stand-in Rasa's record cleared."""
    api.rasa.recording.calls.clear()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def run(coroutine):
    return asyncio.run(coroutine)


async def _escalated(redis_url: str, conversation: str, queue: str) -> str:
    queues = TicketQueues.from_config(config_for(redis_url))
    try:
        return (await escalate(queues, conversation, queue)).ticket_id
    finally:
        await queues.aclose()


def ticket_of(redis_url: str, conversation: str = "cliente-it", queue: str = "agents_it") -> str:
    return run(_escalated(redis_url, conversation, queue))


def login(api: AgentApi, name: str, password: str = PASSWORD) -> requests.Session:
    session = requests.Session()
    answer = session.post(f"{api.url}/login", json={"name": name, "password": password})
    assert answer.status_code == 200, answer.text
    return session


def test_an_agent_cannot_touch_another_teams_ticket(
    api: AgentApi, db: redis.Redis, redis_url: str
) -> None:
    """Attack: agent A of team es lists, reads, claims, answers, transfers and closes a
    ticket of team it. Every attempt is 403 and the ticket is unchanged in Redis."""
    ana = bearer(run(add_account(redis_url, "ana", "agent", "agents_es")))
    gianni = bearer(run(add_account(redis_url, "gianni", "agent", "agents_it")))
    ticket = ticket_of(redis_url)
    assert api("POST", "/queues/agents_it/claim", headers=gianni).status_code == 200
    before = db.hgetall(f"{{lingodesk}}:ticket:{ticket}")
    waiting_before = db.zrange("{lingodesk}:claimed:agents_it", 0, -1)

    listed = api("GET", "/queues", headers=ana).json()["queues"]
    assert [q["queue"] for q in listed] == ["agents_es"]
    attempts = [
        ("GET", "/queues/agents_it/tickets", None),
        ("POST", "/queues/agents_it/claim", None),
        ("GET", f"/tickets/{ticket}", None),
        ("POST", f"/tickets/{ticket}/heartbeat", None),
        ("POST", f"/tickets/{ticket}/reply", {"text": "Hola, soy Ana"}),
        ("POST", f"/tickets/{ticket}/transfer", {"queue": "agents_es", "note": "mine now"}),
        ("POST", f"/tickets/{ticket}/reassign", {"agent": "ana"}),
        ("POST", f"/tickets/{ticket}/close", None),
    ]
    for method, path, body in attempts:
        answer = api(method, path, headers=ana, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert "gianni" not in answer.text
    assert db.hgetall(f"{{lingodesk}}:ticket:{ticket}") == before
    assert db.zrange("{lingodesk}:claimed:agents_it", 0, -1) == waiting_before
    assert api.rasa.recording.changes() == []
    assert [e["action"] for e in _audit(db)] == ["claim"]


def test_a_forged_x_agent_header_changes_nothing(
    api: AgentApi, db: redis.Redis, redis_url: str
) -> None:
    """Attack: Ana sends ``X-Agent: bruno`` to act as Bruno. Identity comes only from her
    token: she cannot answer Bruno's ticket, and what she claims is hers in Redis and audit."""
    ana = bearer(run(add_account(redis_url, "ana", "agent", "agents_es")))
    bruno = bearer(run(add_account(redis_url, "bruno", "agent", "agents_es")))
    held_by_bruno = ticket_of(redis_url, "cliente-1", "agents_es")
    api("POST", "/queues/agents_es/claim", headers=bruno)
    forged = {**ana, "X-Agent": "bruno"}
    answer = api("POST", f"/tickets/{held_by_bruno}/reply", headers=forged, json={"text": "Hola"})
    assert answer.status_code == 409 and "bruno" not in answer.text
    assert api("POST", f"/tickets/{held_by_bruno}/close", headers=forged).status_code == 409
    assert db.hget(f"{{lingodesk}}:ticket:{held_by_bruno}", "status") == "claimed"
    second = ticket_of(redis_url, "cliente-2", "agents_es")
    claimed = api("POST", "/queues/agents_es/claim", headers=forged).json()["ticket"]
    assert claimed["ticket_id"] == second and claimed["agent"] == "ana"
    assert db.hget(f"{{lingodesk}}:ticket:{second}", "agent") == "ana"
    assert [(e["who"], e["action"]) for e in _audit(db)] == [("bruno", "claim"), ("ana", "claim")]
    assert api.rasa.recording.changes() == []


def test_revoked_logged_out_and_url_credentials_are_refused(
    api: AgentApi, db: redis.Redis, redis_url: str
) -> None:
    """Attacks: a revoked token replayed; a cookie replayed after logout; a token passed in a
    query string (where logs and browser history keep it)."""
    token = run(add_account(redis_url, "ana", "agent", "agents_es"))
    assert api("GET", "/me", headers=bearer(token)).status_code == 200
    for name in ("token", "access_token"):
        answer = api("GET", f"/me?{name}={token}")
        assert answer.status_code == 401 and "never in a URL" in answer.json()["error"]
        # Even beside a valid header, a URL credential is refused rather than ignored.
        assert api("GET", f"/me?{name}={token}", headers=bearer(token)).status_code == 401

    session = login(api, "ana")
    cookie = session.cookies.get("lingodesk_session")
    assert session.get(f"{api.url}/me", timeout=10).status_code == 200
    own = {"Origin": api.url}
    assert session.post(f"{api.url}/logout", headers=own, timeout=10).status_code == 200
    replayed = api("GET", "/me", cookies={"lingodesk_session": cookie})
    assert replayed.status_code == 401

    revoked = api("POST", "/accounts/ana/revoke", headers=bearer(_admin_token(redis_url)))
    assert revoked.status_code == 200 and revoked.json()["ended"] >= 1
    assert api("GET", "/me", headers=bearer(token)).status_code == 401


def test_an_expired_session_is_refused(
    tmp_path: Path, redis_server: RedisServer, db: redis.Redis, redis_url: str
) -> None:
    """Attack: a stolen cookie used after its session's lifetime (here 2 seconds)."""
    run(add_account(redis_url, "ana", "agent", "agents_es"))
    with RecordingRasaServer() as rasa:
        service, port = start_api(
            tmp_path, redis_server, rasa, LINGODESK_SESSION_HOURS=str(2 / 3600)
        )
        try:
            short = AgentApi(service, port, rasa)
            session = login(short, "ana")
            assert session.get(f"{short.url}/me", timeout=10).status_code == 200
            time.sleep(2.5)
            assert session.get(f"{short.url}/me", timeout=10).status_code == 401
        finally:
            service.stop()


def test_the_sixth_wrong_password_in_a_minute_gets_429(
    api: AgentApi, db: redis.Redis, redis_url: str
) -> None:
    """Attack: guessing a password. The sixth try within the window is refused with 429 and
    Retry-After, even with the right password; the guesser is not told the account is
    locked, its admin is."""
    run(add_account(redis_url, "ana", "agent", "agents_es"))
    admin = bearer(_admin_token(redis_url))
    for attempt in range(5):
        answer = api("POST", "/login", json={"name": "ana", "password": f"guess-{attempt}"})
        assert answer.status_code == 401, attempt
    for password in ("guess-6", PASSWORD):
        throttled = api("POST", "/login", json={"name": "ana", "password": password})
        assert throttled.status_code == 429
        assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
        assert "lock" not in throttled.text.lower()
    accounts = {a["name"]: a for a in api("GET", "/accounts", headers=admin).json()["accounts"]}
    assert accounts["ana"]["locked_seconds"] > 0
    assert api("POST", "/accounts/ana/unlock", headers=admin).status_code == 200
    # The address stays throttled for other names (it made five failures itself).
    assert api("POST", "/login", json={"name": "root", "password": "x"}).status_code == 429
    actions = [e["action"] for e in _audit(db)]
    assert actions.count("login_failed") == 5 and "account_unlocked" in actions


def test_a_cross_site_post_with_the_session_cookie_is_refused(
    api: AgentApi, db: redis.Redis, redis_url: str
) -> None:
    """Attack: a page on another site posts to the API with the agent's cookie (CSRF)."""
    run(add_account(redis_url, "ana", "agent", "agents_es"))
    ticket = ticket_of(redis_url, "cliente-1", "agents_es")
    session = login(api, "ana")
    for headers in ({"Origin": "https://evil.example"}, {}, {"Origin": "null"}):
        answer = session.post(f"{api.url}/queues/agents_es/claim", headers=headers, timeout=10)
        assert answer.status_code == 403, headers
    assert db.hget(f"{{lingodesk}}:ticket:{ticket}", "status") == "waiting"
    other_site_login = api(
        "POST",
        "/login",
        json={"name": "ana", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site_login.status_code == 403
    same_site = session.post(
        f"{api.url}/queues/agents_es/claim", headers={"Origin": api.url}, timeout=10
    )
    assert same_site.status_code == 200


def test_a_planted_ticket_never_reaches_rasa_as_a_path(
    api: AgentApi, db: redis.Redis, redis_url: str
) -> None:
    """Attack: tickets written into Redis by someone else, whose ids climb out of their URL
    (``../``): Rasa never gets a request, the agent gets a clear error."""
    ana = bearer(run(add_account(redis_url, "ana", "agent", "agents_es")))
    planted = {
        "ticket_id": "t-planted", "conversation_id": "../../model/train", "queue": "agents_es",
        "priority": "2", "reason": "x", "language": "es", "status": "claimed", "agent": "ana",
        "created_at": "1700000000", "transcript": "[]", "sentiment_trend": "[]", "entities": "{}",
    }  # fmt: skip
    db.hset("{lingodesk}:ticket:t-planted", mapping=planted)
    for method, path, body in (
        ("GET", "/tickets/t-planted", None),
        ("POST", "/tickets/t-planted/reply", {"text": "hola"}),
        ("POST", "/tickets/t-planted/close", None),
    ):
        answer = api(method, path, headers=ana, json=body)
        assert answer.status_code == 500, (path, answer.text)
        assert answer.json()["error"] == "the stored ticket is malformed; it was not used"
    db.hset("{lingodesk}:ticket:../../status", mapping={**planted, "ticket_id": "../../status"})
    db.zadd("{lingodesk}:waiting:agents_es", {"../../status": 1})
    assert api("POST", "/queues/agents_es/claim", headers=ana).status_code in (404, 500)
    assert api("GET", "/tickets/..%2F..%2Fstatus", headers=ana).status_code == 404
    assert api.rasa.recording.calls == []


def test_a_retried_close_never_hands_a_re_escalated_conversation_back(
    api: AgentApi, db: redis.Redis, redis_url: str
) -> None:
    """Attack (replay): a close request repeated after the customer escalated again must not
    give the customer back to the bot."""
    ana = bearer(run(add_account(redis_url, "ana", "agent", "agents_es")))
    first = ticket_of(redis_url, "cliente-1", "agents_es")
    api("POST", "/queues/agents_es/claim", headers=ana)
    assert api("POST", f"/tickets/{first}/close", headers=ana).json()["delivery"] == "pushed"
    handed_back = api.rasa.recording.changes()
    assert [path for path, _, _ in handed_back][-1] == "/conversations/cliente-1/tracker/events"
    second = ticket_of(redis_url, "cliente-1", "agents_es")  # angry again: a new ticket
    assert second != first
    replayed = api("POST", f"/tickets/{first}/close", headers=ana)
    assert replayed.status_code == 200 and replayed.json()["delivery"] == "none"
    assert api.rasa.recording.changes() == handed_back
    assert db.get("{lingodesk}:conversation:cliente-1") == second
    assert db.hget(f"{{lingodesk}}:ticket:{second}", "status") == "waiting"

    # The same when the first close failed half-way (Rasa refused the hand-back) and the
    # customer escalated again before the close was retried.
    third = ticket_of(redis_url, "cliente-2", "agents_es")
    api("POST", "/queues/agents_es/claim", headers=ana)  # the oldest: cliente-1's second
    api("POST", "/queues/agents_es/claim", headers=ana)
    api.rasa.recording.failing = True
    try:
        failed = api("POST", f"/tickets/{third}/close", headers=ana)
    finally:
        api.rasa.recording.failing = False
    assert failed.status_code == 502 and "10.1.2.3" not in failed.text
    assert db.hget(f"{{lingodesk}}:ticket:{third}", "status") == "closed"
    calls_before = list(api.rasa.recording.changes())
    fourth = ticket_of(redis_url, "cliente-2", "agents_es")
    replayed = api("POST", f"/tickets/{third}/close", headers=ana)
    assert replayed.status_code == 200 and replayed.json()["delivery"] == "none"
    assert api.rasa.recording.changes() == calls_before
    assert db.get("{lingodesk}:conversation:cliente-2") == fourth


def test_a_scripted_shift_leaves_exactly_its_actions_in_the_audit(
    api: AgentApi, db: redis.Redis, redis_url: str
) -> None:
    """Two agents of two teams and a supervisor work a shift through the console's cookie:
    the audit stream holds exactly their actions, in order, with the right names."""
    for name, role, teams in (
        ("ana", "agent", ("agents_es",)), ("gianni", "agent", ("agents_it",)),
        ("carla", "supervisor", ()),
    ):  # fmt: skip
        run(add_account(redis_url, name, role, *teams))
    db.delete("{lingodesk}:audit:log")  # the accounts' creation is not the shift
    spanish = ticket_of(redis_url, "cliente-es", "agents_es")
    own = {"Origin": api.url}
    ana, gianni, carla = (login(api, n) for n in ("ana", "gianni", "carla"))

    def post(who: requests.Session, path: str, body: dict | None = None) -> dict:
        answer = who.post(f"{api.url}{path}", json=body, headers=own, timeout=10)
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()

    post(ana, "/queues/agents_es/claim")
    post(ana, f"/tickets/{spanish}/reply", {"text": "Hola, soy Ana."})
    post(ana, f"/tickets/{spanish}/transfer", {"queue": "agents_it", "note": "Parla italiano"})
    post(carla, f"/tickets/{spanish}/reassign", {"agent": "gianni"})
    post(gianni, f"/tickets/{spanish}/reply", {"text": "Ciao, sono Gianni."})
    post(gianni, f"/tickets/{spanish}/close")
    for who in (ana, gianni, carla):
        post(who, "/logout")
    entries = carla.get(f"{api.url}/audit", timeout=10)
    assert entries.status_code == 401  # carla logged out
    supervisor = login(api, "carla")
    shift = supervisor.get(f"{api.url}/audit?count=100", timeout=10).json()["entries"]
    assert [(e["who"], e["action"], e.get("ticket", "")) for e in shift] == [
        ("ana", "login", ""), ("gianni", "login", ""), ("carla", "login", ""),
        ("ana", "claim", spanish), ("ana", "reply", spanish), ("ana", "transfer", spanish),
        ("carla", "reassign", spanish), ("gianni", "reply", spanish),
        ("gianni", "close", spanish),
        ("ana", "logout", ""), ("gianni", "logout", ""), ("carla", "logout", ""),
        ("carla", "login", ""),
    ]  # fmt: skip
    assert shift[6]["account"] == "gianni" and shift[5]["detail"].endswith("Parla italiano")
    assert all(e["address"] == "127.0.0.1" for e in shift)
    assert supervisor.get(f"{api.url}/audit", params={"who": "ana"}, timeout=10).ok
    assert api("GET", "/audit", cookies=ana.cookies.get_dict()).status_code == 401


def _admin_token(redis_url: str) -> str:
    return run(add_account(redis_url, "root", "admin"))


def _audit(db: redis.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in db.xrange("{lingodesk}:audit:log")]
