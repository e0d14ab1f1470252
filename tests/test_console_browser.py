"""The agents' console in headless Chromium against real processes: the shipped assistant
(fast NLU) served by Rasa with lingodesk's action server and Redis, the agent API as its own
process, and the customer in the chat widget on the demo shop page.

Screenshots of the queue and ticket views at 1280x720 and 390x844 (one with an Arabic
transcript) go to test-output/console/; docs/images/console-ticket.png is copied from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.agents import PASSWORD
from tests.servers import REPO_ROOT, RasaStack
from tests.widget_browser import BROWSER_TEST_MARKS, REPLY_TIMEOUT_MS, Shop

pytestmark = BROWSER_TEST_MARKS
SCREENSHOTS = REPO_ROOT / "test-output" / "console"
ANGRY_SPANISH_CUSTOMER = (
    "ya se lo he explicado 3 veces a vuestro bot inutil. QUE ME PASEIS CON UNA PERSONA YA"
)
ARABIC_CUSTOMER = "حولني لشخص حقيقي، هذا البوت ما ينفع"
XSS = "<img src=x onerror=alert(1)>"


class Console:
    """One agent's console in a browser context of its own."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def sign_in(self, name: str) -> Console:
        self.page.goto(self.url)
        self.page.get_by_label("Name").fill(name)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.locator("#who")).to_contain_text(name)
        return self

    def queue(self, name: str):
        return self.page.locator(f'.queue[data-queue="{name}"]')

    def transcript(self):
        return self.page.locator("#t-transcript")

    def shoot(self, name: str, width: int, height: int) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.set_viewport_size({"width": width, "height": height})
        path = SCREENSHOTS / f"{name}-{width}x{height}.png"
        self.page.screenshot(path=path)
        return path


@pytest.fixture
def console(browser: Browser, agent_api_url: str) -> Iterator[Callable[[str], Console]]:
    contexts = []

    def open_console(name: str) -> Console:
        context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 720})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return Console(page, agent_api_url).sign_in(name)

    yield open_console
    for context in contexts:
        context.close()


def rest_customer(stack: RasaStack, sender: str, text: str) -> list[dict]:
    answer = requests.post(
        f"{stack.url}/webhooks/rest/webhook",
        json={"sender": stack.session(sender), "message": text},
        timeout=60,
    )
    answer.raise_for_status()
    return answer.json()


def test_an_agent_answers_an_angry_spanish_customer_live(
    console: Callable[[str], Console], shop: Callable[..., Shop], browser_stack: RasaStack
) -> None:
    """Login, the customer appearing live, claim, context, reply, canned reply, private note,
    close; another team's agent never sees the ticket, in the list or by URL."""
    ana, gianni = console("ana"), console("gianni")
    expect(ana.queue("agents_es")).to_be_visible()
    expect(gianni.queue("agents_es")).to_have_count(0)

    customer = shop("es", "es-ES", browser_stack)
    customer.open()
    customer.say("Mi pedido LD-284617 no llega")
    customer.bot_says("LD-284617")
    customer.say(ANGRY_SPANISH_CUSTOMER)
    row = ana.queue("agents_es").locator(".ticket-row")
    expect(row).to_have_count(1, timeout=REPLY_TIMEOUT_MS)  # no reload: the live stream
    ticket_id = row.get_attribute("data-ticket")
    ana.queue("agents_es").get_by_role("button", name="Claim next").click()

    page = ana.page
    expect(page.locator("#t-title")).to_contain_text("Spanish (es)")
    expect(page.locator("#t-reason")).not_to_be_empty()
    expect(page.locator("#t-entities")).to_contain_text("LD-284617")
    expect(page.locator("#t-chart polyline.polarity")).to_have_count(1)
    first_line = ana.transcript().locator(".line.user").first
    expect(first_line).to_contain_text("LD-284617")
    expect(first_line.locator(".nlu")).to_contain_text("%")
    ana.shoot("ticket", 1280, 720)

    page.keyboard.press("r")
    expect(page.locator("#reply-text")).to_be_focused()
    page.locator("#reply-text").fill("Hola, soy Ana. Reviso tu pedido ahora mismo.")
    sent_at = time.monotonic()
    page.locator("#reply-text").press("Enter")
    customer.bot_says("soy Ana", role="agent")
    print(f"agent reply shown in the widget after {time.monotonic() - sent_at:.2f} s")

    customer.say(XSS)
    customer.say("Gracias, espero")
    expect(ana.transcript()).to_contain_text("Gracias, espero", timeout=REPLY_TIMEOUT_MS)
    expect(ana.transcript()).to_contain_text(XSS)
    expect(ana.transcript().locator("img")).to_have_count(0)

    page.locator("#canned-search").fill("utter_greet")
    page.get_by_role("button", name="Insert").click()
    assert page.locator("#reply-text").input_value().startswith("¡Hola! Soy el asistente")
    page.locator("#reply-text").press("Enter")
    customer.bot_says("Soy el asistente de LingoDesk", role="agent")

    page.get_by_placeholder("A note for your colleagues").fill("Cliente VIP, ofrecer envío gratis")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#t-notes")).to_contain_text("Cliente VIP")

    # The other team: not in the list, not by URL, not through the live stream.
    expect(gianni.page.locator(f'[data-ticket="{ticket_id}"]')).to_have_count(0)
    assert gianni.page.request.get(f"{gianni.url}/tickets/{ticket_id}").status == 403

    page.get_by_role("button", name="Close: back to the bot").click()
    customer.bot_says("Ya estoy de vuelta", role="system")
    expect(customer.log).not_to_contain_text("Cliente VIP")
    assert ana.dialogs == [] and ana.errors == [] and gianni.errors == []


def test_screenshots_of_the_queue_and_an_arabic_ticket(
    console: Callable[[str], Console], browser_stack: RasaStack
) -> None:
    """A supervisor's queue view and an Arabic conversation, right to left, at desktop and
    phone sizes (the artefacts docs/handoff.md shows)."""
    rest_customer(browser_stack, "ar-customer", ARABIC_CUSTOMER)
    rest_customer(browser_stack, "es-waiting", ANGRY_SPANISH_CUSTOMER)
    carla = console("carla")
    row = carla.queue("agents_ar").locator(".ticket-row")
    expect(row).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    carla.shoot("queues", 1280, 720)
    carla.shoot("queues", 390, 844)
    carla.page.set_viewport_size({"width": 1280, "height": 720})
    page = carla.page
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("dialog")).to_contain_text("next / previous ticket")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.keyboard.press("j")
    page.keyboard.press("k")  # back to the first row: the most urgent queue's, Arabic
    expect(page.locator(".ticket-row.selected")).to_have_attribute(
        "data-ticket", row.get_attribute("data-ticket") or ""
    )
    page.keyboard.press("Enter")
    expect(carla.page.locator("#t-title")).to_contain_text("Arabic (ar)")
    expect(carla.transcript()).to_have_attribute("dir", "rtl")
    expect(carla.transcript()).to_contain_text(ARABIC_CUSTOMER)
    carla.shoot("ticket-arabic", 1280, 720)
    carla.shoot("ticket-arabic", 390, 844)
    assert carla.errors == []
