"""rasa-webchat 1.0.1 itself (from the npm registry by set-up, tests/webchat.py) in headless
Chromium, set up as its README documents (socketUrl at Rasa, ``initPayload: "/greet"``, local
storage), against real processes: Rasa serving the shipped assistant (fast NLU), lingodesk's action
server, Redis and the agent API. The customers are answered in their language from their
first message; an escalated one sees the queue notice and the agent's reply."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml
from playwright.sync_api import Browser, Page, expect

from tests.agents import PASSWORD
from tests.servers import REPO_ROOT, RasaStack
from tests.webchat import fetch_webchat, webchat_shop
from tests.widget_browser import BROWSER_TEST_MARKS, REPLY_TIMEOUT_MS

pytestmark = BROWSER_TEST_MARKS


@functools.cache
def response_patterns(language: str) -> list[re.Pattern[str]]:
    """Every text the shipped domain has for `language`, with its {slots} as wildcards."""
    domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text(encoding="utf-8"))
    patterns = []
    for variations in domain["responses"].values():
        for variation in variations:
            conditions = variation.get("condition") or []
            if variation.get("text") and conditions and conditions[0].get("value") == language:
                text = re.sub(r"\\\{[a-z_]+\\\}", ".+", re.escape(variation["text"].strip()))
                patterns.append(re.compile(rf"^{text}$", re.DOTALL))
    return patterns


@pytest.fixture(scope="module")
def webchat() -> Path:
    return fetch_webchat(REPO_ROOT / "build")


@pytest.fixture
def open_shop(
    browser: Browser, webchat: Path, browser_stack: RasaStack, tmp_path: Path
) -> Iterator[Callable[..., Page]]:
    """A shop page with rasa-webchat for one new customer (``customData`` optional)."""
    opened = []

    def open_page(locale: str, **config: object) -> Page:
        props = {
            "socketUrl": browser_stack.url, "socketPath": "/socket.io/", "initPayload": "/greet",
            "title": "Shop", "params": {"storage": "local"}, **config,
        }  # fmt: skip
        shop = webchat_shop(webchat, tmp_path / f"shop-{len(opened)}", props)
        url = shop.__enter__()
        context = browser.new_context(locale=locale, viewport={"width": 1100, "height": 800})
        page = context.new_page()
        page.set_default_timeout(REPLY_TIMEOUT_MS)
        page.goto(url)
        page.locator(".rw-launcher").click()
        expect(page.locator(".rw-new-message")).to_be_visible()
        opened.append((shop, context))
        return page

    yield open_page
    for shop, context in opened:
        context.close()
        shop.__exit__(None, None, None)


def say(page: Page, text: str) -> None:
    """Type into rasa-webchat and wait for the bot's next answer."""
    answers = page.locator(".rw-response").count()
    page.locator(".rw-new-message").fill(text)
    page.locator(".rw-new-message").press("Enter")
    expect(page.locator(".rw-response")).not_to_have_count(answers)
    expect(page.locator(".rw-response").nth(answers)).to_have_text(re.compile(r"\S"))


def answers(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(".rw-response").all_inner_texts()]


def in_language(texts: list[str], language: str) -> bool:
    return any(p.match(text) for text in texts for p in response_patterns(language))


@pytest.mark.parametrize(
    ("locale", "language", "question"),
    [
        ("es-ES", "es", "Hola, ¿dónde está mi pedido LD-482913?"),
        ("de-DE", "de", "Wo ist meine Bestellung LD-482913?"),
        ("ja-JP", "ja", "注文番号LD-482913の配送状況を教えてください"),
    ],
)
def test_the_first_answer_after_greet_is_in_the_customers_language(
    open_shop: Callable[..., Page], locale: str, language: str, question: str
) -> None:
    page = open_shop(locale)
    # the answer to /greet
    expect(page.locator(".rw-response").first).to_have_text(re.compile(r"\S"))
    greeted = len(answers(page))
    say(page, question)
    first_answer = answers(page)[greeted:]
    assert in_language(first_answer, language), first_answer


def test_custom_data_language_is_honoured(open_shop: Callable[..., Page]) -> None:
    """``customData: {language: "es"}``, the way rasa-webchat's README passes the language: a
    reply to a word that says no language ("ok") is in Spanish."""
    page = open_shop("en-GB", customData={"language": "es"})
    expect(page.locator(".rw-response").first).to_have_text(re.compile(r"\S"))
    greeted = len(answers(page))
    say(page, "ok")
    assert in_language(answers(page)[greeted:], "es"), answers(page)


def test_an_escalated_customer_sees_the_queue_and_the_agents_reply(
    open_shop: Callable[..., Page], agent_api_url: str
) -> None:
    page = open_shop("es-ES")
    expect(page.locator(".rw-response").first).to_have_text(re.compile(r"\S"))
    say(
        page, "ya se lo he explicado 3 veces a vuestro bot inutil. QUE ME PASEIS CON UNA PERSONA YA"
    )
    expect(page.locator(".rw-response").last).to_contain_text("agents_es")
    agent = requests.Session()
    assert agent.post(f"{agent_api_url}/login", json={"name": "ana", "password": PASSWORD}).ok
    own = {"Origin": agent_api_url}
    claimed = agent.post(f"{agent_api_url}/queues/agents_es/claim", headers=own, timeout=10)
    ticket = claimed.json()["ticket"]["ticket_id"]
    reply = agent.post(
        f"{agent_api_url}/tickets/{ticket}/reply",
        json={"text": "Hola, soy Ana, del equipo de soporte."},
        headers=own,
        timeout=10,
    )
    assert reply.json()["delivery"] == "pushed"
    expect(page.locator(".rw-response").last).to_contain_text("soy Ana")
    agent.post(f"{agent_api_url}/tickets/{ticket}/close", headers=own, timeout=10)
