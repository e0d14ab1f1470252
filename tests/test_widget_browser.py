"""The chat widget in a real browser against real servers.

Debian's Chromium (headless, driven by Playwright; never a downloaded browser) opens the demo
shop page served by `bot.web`, and the widget talks to `rasa run` over the socket.io channel
of the repo's credentials.yml, with the conversations in a real Redis (tests/servers.py).

Two assistants are served:
- tests/widget_assistant/: a small self-contained assistant (en, de, ar) whose responses use
  every kind of message the widget renders (quick replies, an image, links), with a stand-in
  for the handoff actions that speaks the handoff contract. It does not change when the shipped
  assistant's data does, so these tests fail only when the widget or the channel breaks.
- the shipped assistant (domain.yml, data/, actions/) with a fast stock NLU pipeline, for the
  angry customer who must end up in a human queue through lingodesk's own routing actions.

Every test saves a screenshot under test-output/widget/.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from bot.web import WidgetServer
from tests.servers import (
    LANGUAGE_ID_MODEL,
    REPO_ROOT,
    RasaStack,
    http_json,
    prepare_project,
    prepare_shipped_assistant,
    train,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is missing"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is missing"),
]

SCREENSHOTS = REPO_ROOT / "test-output" / "widget"
WIDGET_ASSISTANT = Path(__file__).resolve().parent / "widget_assistant"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Rasa answers in well under a second on a quiet machine; CI machines are not quiet.
REPLY_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def model_cache(pytestconfig: pytest.Config) -> Path | None:
    """Trained models survive between test runs (keyed by the project's files), unless pytest
    runs without its cache (``-p no:cacheprovider``)."""
    cache = getattr(pytestconfig, "cache", None)
    return cache.mkdir("lingodesk-models") if cache is not None else None


@pytest.fixture(scope="module")
def widget_stack(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path | None
) -> Iterator[RasaStack]:
    """Rasa + action server + Redis serving tests/widget_assistant/."""
    project = prepare_project(
        tmp_path_factory.mktemp("widget-assistant"),
        config=WIDGET_ASSISTANT / "config.yml",
        domain=WIDGET_ASSISTANT / "domain.yml",
        data=[WIDGET_ASSISTANT / "data"],
        extra_files=[WIDGET_ASSISTANT / "widget_actions.py"],
    )
    train(project, cache_dir=model_cache)
    with RasaStack(project, actions_module="widget_actions") as stack:
        yield stack


@pytest.fixture(scope="module")
def shipped_stack(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path | None
) -> Iterator[RasaStack]:
    """Rasa + lingodesk's action server + Redis serving the shipped assistant (fast NLU)."""
    if not LANGUAGE_ID_MODEL.is_file():
        pytest.skip(f"{LANGUAGE_ID_MODEL} is missing: scripts/setup builds it")
    project = prepare_shipped_assistant(tmp_path_factory.mktemp("shipped-assistant"))
    train(project, cache_dir=model_cache)
    with RasaStack(project) as stack:
        yield stack


@pytest.fixture(scope="module")
def web() -> Iterator[WidgetServer]:
    with WidgetServer(port=0) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium; module-scoped so its event loop is gone before other test modules."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class Shop:
    """The demo shop page in one browser context (one customer), with the widget's parts."""

    def __init__(self, page: Page, stack: RasaStack, name: str) -> None:
        self.page = page
        self.stack = stack
        self.name = name
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    @property
    def launcher(self) -> Locator:
        return self.page.locator(".ld-launcher")

    @property
    def panel(self) -> Locator:
        return self.page.get_by_role("dialog")

    @property
    def log(self) -> Locator:
        return self.page.get_by_role("log")

    @property
    def input(self) -> Locator:
        return self.page.locator(".ld-input")

    def messages(self, role: str) -> Locator:
        return self.page.locator(f".ld-message.ld-{role}")

    def open(self) -> None:
        self.launcher.click()
        expect(self.panel).to_be_visible()
        expect(self.input).to_be_focused()

    def say(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def bot_says(self, pattern: str | re.Pattern[str], role: str = "bot") -> Locator:
        message = self.messages(role).filter(has_text=pattern).last
        expect(message).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        return message

    def session_id(self) -> str:
        return self.state()["sessionId"]

    def state(self) -> dict[str, Any]:
        """What the widget keeps in local storage."""
        stored = self.page.evaluate(
            "() => localStorage.getItem(Object.keys(localStorage).find("
            "(key) => key.startsWith('lingodesk:')))"
        )
        return json.loads(stored)

    def user_events(self) -> list[dict[str, Any]]:
        """The customer's messages as Rasa stored them (HTTP API)."""
        events = self.stack.tracker(self.session_id())["events"]
        return [event for event in events if event["event"] == "user"]

    def screenshot(self, suffix: str = "") -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}{suffix}.png"
        self.page.screenshot(path=path)
        return path


@pytest.fixture
def shop(
    browser: Browser, web: WidgetServer, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Shop]]:
    """Opens the demo shop for a new customer: ``shop(lang, locale, stack, dev=False)``.

    Each call is a fresh browser context (no local storage), so every test starts a new
    conversation. A screenshot named after the test is saved when the test ends, pass or fail.
    """
    opened: list[tuple[BrowserContext, Shop]] = []

    def open_shop(lang: str, locale: str, stack: RasaStack, dev: bool = False) -> Shop:
        context = browser.new_context(locale=locale, viewport={"width": 1100, "height": 760})
        page = context.new_page()
        page.set_default_timeout(10_000)
        customer = Shop(page, stack, request.node.name.removeprefix("test_"))
        params = {"lang": lang, **({"dev": "1"} if dev else {})}
        page.goto(web.demo_url(stack.url, **params))
        expect(customer.launcher).to_be_visible()
        opened.append((context, customer))
        return customer

    yield open_shop
    for context, customer in opened:
        customer.screenshot()
        context.close()
        assert customer.errors == [], f"JavaScript errors on the page: {customer.errors}"


def record_typing_indicator(page: Page) -> None:
    """Notes in the page whether the typing indicator ever shows (it may show for only a few
    milliseconds on a quiet machine, too briefly to poll for)."""
    page.evaluate(
        """() => {
            const typing = document.querySelector('.lingodesk-widget-host')
                .shadowRoot.querySelector('.ld-typing');
            window.typingShown = false;
            new MutationObserver(() => { if (!typing.hidden) window.typingShown = true; })
                .observe(typing, { attributes: true, attributeFilter: ['hidden'] });
        }"""
    )


def test_english_conversation_with_quick_replies_image_and_link(
    shop: Callable[..., Shop], widget_stack: RasaStack
) -> None:
    customer = shop("en", "en-US", widget_stack)
    customer.open()
    record_typing_indicator(customer.page)
    customer.say("hello")
    greeting = customer.bot_says("Hello! I'm the Lingodesk assistant")
    assert customer.page.evaluate("window.typingShown")
    expect(customer.page.locator(".ld-typing")).to_be_hidden()

    replies = greeting.get_by_role("group", name="Suggested replies")
    expect(replies.get_by_role("button")).to_have_text(["Track my order", "Return an item"])
    replies.get_by_role("button", name="Track my order").click()

    expect(customer.messages("user").last).to_contain_text("Track my order")
    expect(customer.page.get_by_role("group", name="Suggested replies")).to_have_count(0)
    expect(customer.input).to_be_focused()
    answer = customer.bot_says("You'll find your order number")
    link = answer.get_by_role("link", name="your account")
    expect(link).to_have_attribute("href", "https://shop.example/account")
    expect(link).to_have_attribute("target", "_blank")
    image = customer.messages("bot").get_by_role("img", name="Image sent by the assistant")
    expect(image).to_be_visible()
    assert image.evaluate("image => image.naturalWidth") > 0, "the image did not load"

    customer.say("how do returns work")
    returns = customer.bot_says("free of charge for 30 days")
    expect(returns.get_by_role("link", name="https://shop.example/returns")).to_be_visible()

    # The widget's language hints reached Rasa with every message (the metadata contract).
    metadata = [event["metadata"] for event in customer.user_events()]
    assert [m["language_hint"] for m in metadata] == ["en-US"] * 3
    assert [m["page_language"] for m in metadata] == ["en"] * 3
    assert [e["text"] for e in customer.user_events()] == [
        "hello", "/order_status", "how do returns work",
    ]  # fmt: skip


def test_german_conversation(shop: Callable[..., Shop], widget_stack: RasaStack) -> None:
    customer = shop("de", "de-DE", widget_stack)
    expect(customer.launcher).to_have_accessible_name("Chat mit uns")
    customer.open()
    expect(customer.input).to_have_attribute("placeholder", "Nachricht eingeben …")
    customer.say("Hallo")
    greeting = customer.bot_says("Wobei kann ich helfen?")
    greeting.get_by_role("button", name="Bestellung verfolgen").click()
    answer = customer.bot_says("Ihre Bestellnummer (LD-123456) finden Sie")
    expect(answer.get_by_role("link", name="Ihrem Konto")).to_have_attribute(
        "href", "https://shop.example/konto"
    )
    customer.say("danke")
    customer.bot_says("Gern geschehen!")
    assert {e["metadata"]["language_hint"] for e in customer.user_events()} == {"de-DE"}


def test_arabic_conversation_is_right_to_left(
    shop: Callable[..., Shop], widget_stack: RasaStack
) -> None:
    customer = shop("ar", "ar-EG", widget_stack)
    customer.open()
    frame = customer.page.locator(".ld-frame")
    expect(frame).to_have_attribute("dir", "rtl")
    expect(frame).to_have_attribute("lang", "ar")
    assert customer.panel.evaluate("panel => getComputedStyle(panel).direction") == "rtl"
    expect(customer.panel).to_have_accessible_name("خدمة العملاء")
    expect(customer.input).to_have_attribute("placeholder", "اكتب رسالتك…")

    customer.say("مرحبا")
    greeting = customer.bot_says("كيف يمكنني مساعدتك؟")
    greeting.get_by_role("button", name="تتبع طلبي").click()
    customer.bot_says("ستجد رقم طلبك")

    # Mirrored layout: the panel sits at the left edge, the customer's bubbles on the left
    # and the assistant's on the right of the transcript.
    viewport = customer.page.viewport_size
    panel = customer.panel.bounding_box()
    assert panel is not None and viewport is not None
    assert panel["x"] < viewport["width"] / 2 < panel["x"] + panel["width"] + 300
    user = customer.page.locator(".ld-user .ld-bubble").last.bounding_box()
    bot = customer.page.locator(".ld-bot .ld-bubble").last.bounding_box()
    assert user is not None and bot is not None
    assert user["x"] < bot["x"]
    assert user["x"] - panel["x"] < 40, "the customer's bubble should hug the left edge"
    assert panel["x"] + panel["width"] - (bot["x"] + bot["width"]) < 40


def test_reload_keeps_the_conversation(shop: Callable[..., Shop], widget_stack: RasaStack) -> None:
    customer = shop("en", "en-GB", widget_stack)
    customer.open()
    customer.say("hello")
    customer.bot_says("How can I help?")
    session = customer.session_id()

    customer.page.reload()
    expect(customer.panel).to_be_visible()  # it was open, it stays open
    expect(customer.messages("user")).to_have_count(1)
    expect(customer.messages("user")).to_contain_text("hello")
    expect(customer.messages("bot").first).to_contain_text("How can I help?")
    customer.say("thanks")
    customer.bot_says("You're welcome!")

    # Same Rasa conversation before and after the reload (Rasa's session persistence).
    assert customer.session_id() == session
    assert [e["text"] for e in customer.user_events()] == ["hello", "thanks"]


def test_reconnects_after_a_dropped_connection(
    shop: Callable[..., Shop], widget_stack: RasaStack
) -> None:
    customer = shop("en", "en-US", widget_stack)
    customer.open()
    customer.say("hello")
    customer.bot_says("How can I help?")
    connection = customer.page.locator(".ld-connection")

    # The transport dies under the widget (what a network drop looks like to socket.io).
    customer.page.evaluate("LingodeskWidget.current.socket.io.engine.close()")
    customer.say("thanks")
    customer.bot_says("You're welcome!")

    # A message written while the connection is down waits and goes out after reconnecting.
    customer.page.evaluate("LingodeskWidget.current.socket.disconnect()")
    expect(connection).to_contain_text("Reconnecting")
    customer.say("track my order")
    expect(connection).to_contain_text("will be sent when the connection is back")
    customer.page.evaluate("LingodeskWidget.current.socket.connect()")
    customer.bot_says("You'll find your order number")
    expect(connection).to_be_hidden()
    assert [e["text"] for e in customer.user_events()] == ["hello", "thanks", "track my order"]


def test_keyboard_only_and_screen_reader_labels(
    shop: Callable[..., Shop], widget_stack: RasaStack
) -> None:
    customer = shop("en", "en-US", widget_stack)
    page = customer.page
    expect(customer.launcher).to_have_attribute("aria-expanded", "false")
    customer.launcher.focus()
    page.keyboard.press("Enter")
    expect(customer.panel).to_be_visible()
    expect(customer.launcher).to_have_attribute("aria-expanded", "true")
    expect(customer.input).to_be_focused()
    expect(customer.input).to_have_accessible_name("Your message")
    expect(customer.log).to_have_attribute("aria-live", "polite")
    expect(page.get_by_role("button", name="Send")).to_be_visible()

    page.keyboard.type("hello")
    page.keyboard.press("Enter")
    customer.bot_says("How can I help?")
    # The speaker is announced with each message.
    expect(customer.messages("bot").last.locator(".ld-visually-hidden")).to_have_text("Assistant: ")
    # Shift+Tab from the input reaches the quick replies; Enter picks one.
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Return an item")).to_be_focused()
    page.keyboard.press("Enter")
    customer.bot_says("free of charge for 30 days")
    expect(customer.input).to_be_focused()

    page.keyboard.press("Escape")
    expect(customer.panel).to_be_hidden()
    expect(customer.launcher).to_be_focused()

    # A reply that arrives while the panel is closed shows on the launcher.
    page.keyboard.press("Enter")
    page.keyboard.type("thanks")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    expect(customer.launcher).to_have_accessible_name(
        "Chat with us 1 new", timeout=REPLY_TIMEOUT_MS
    )
    page.keyboard.press("Enter")
    expect(customer.messages("bot").last).to_contain_text("You're welcome!")
    page.keyboard.press("Escape")
    expect(customer.launcher).to_have_accessible_name("Chat with us")  # read: no badge


def test_developer_view_shows_what_the_nlu_understood(
    shop: Callable[..., Shop], widget_stack: RasaStack
) -> None:
    customer = shop("en", "en-US", widget_stack, dev=True)
    customer.open()
    customer.say("where is my order?")
    customer.bot_says("You'll find your order number")
    dev = customer.messages("user").last.locator(".ld-dev")
    expect(dev).to_contain_text("order_status", timeout=REPLY_TIMEOUT_MS)
    expect(dev.locator("dt")).to_have_text(["Language", "Intent", "Sentiment", "Entities"])


def test_developer_view_says_when_the_api_refuses(
    shop: Callable[..., Shop], widget_stack: RasaStack
) -> None:
    customer = shop("en", "en-US", widget_stack, dev=True)
    customer.page.route("**/conversations/*/tracker*", lambda route: route.fulfill(status=401))
    customer.open()
    customer.say("hello")
    customer.bot_says("How can I help?")
    dev = customer.messages("user").last.locator(".ld-dev")
    expect(dev).to_contain_text("refused the request (401)", timeout=REPLY_TIMEOUT_MS)


def test_handoff_contract_queue_agent_and_bot_back(
    shop: Callable[..., Shop], widget_stack: RasaStack
) -> None:
    """The widget's side of the handoff contract, through Rasa's real socket.io output: the
    stand-in handoff action queues the customer, then agent and bot-back messages are pushed
    into the conversation through Rasa's HTTP API the way an agent side would."""
    customer = shop("de", "de-DE", widget_stack)
    customer.open()
    customer.say("Das ist eine Frechheit! Ich will sofort einen Mitarbeiter sprechen")
    notice = customer.bot_says("Ich verbinde Sie mit einem Kollegen", role="system")
    expect(notice).to_have_attribute("data-kind", "handoff_queued")
    expect(customer.page.locator(".ld-subtitle")).to_have_text(
        re.compile(r"Warten auf einen Mitarbeiter · Position \d+")
    )

    push = f"{widget_stack.url}/conversations/{customer.session_id()}/tracker/events"
    query = "?output_channel=latest&execute_side_effects=true"
    agent_event = {
        "event": "bot",
        "text": "Hallo, hier ist Ana. Ich sehe mir Ihre Bestellung an.",
        "data": {"custom": {"lingodesk": {"kind": "agent_message", "agent": "Ana"}}},
    }
    http_json(push + query, [agent_event])
    agent = customer.bot_says("hier ist Ana", role="agent")
    expect(agent.locator(".ld-speaker")).to_have_text("Ana (Kundenservice)")
    expect(customer.page.locator(".ld-subtitle")).to_have_text("Im Chat mit Ana")
    customer.screenshot("-agent")

    back_event = {
        "event": "bot",
        "text": "Der automatische Assistent übernimmt wieder.",
        "data": {"custom": {"lingodesk": {"kind": "bot_back"}}},
    }
    http_json(push + query, [back_event])
    back = customer.bot_says("übernimmt wieder", role="system")
    expect(back).to_have_attribute("data-kind", "bot_back")
    expect(customer.page.locator(".ld-subtitle")).to_have_text("Virtueller Assistent")


ANGRY_GERMAN_CUSTOMER = "Unverschämt! Gib mir einen echten Menschen, der Bot bringt nix!"


def hand_off_angry_customer(customer: Shop) -> Locator:
    """The angry customer writes; returns the widget's message for the handoff notice, after
    checking that lingodesk's routing actions really queued and paused the conversation."""
    customer.open()
    customer.say(ANGRY_GERMAN_CUSTOMER)
    expect(customer.messages("user")).to_have_count(1)
    tracker: dict[str, Any] = {}

    def handed_off() -> bool:
        tracker.update(customer.stack.tracker(customer.session_id()))
        return bool(tracker["slots"].get("handed_off")) and tracker["paused"]

    deadline = time.monotonic() + REPLY_TIMEOUT_MS / 1000
    while not handed_off() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert handed_off(), f"no handoff; last events: {tracker['events'][-6:]}"
    assert tracker["slots"]["language"] == "de"
    notice_text = [e["text"] for e in tracker["events"] if e["event"] == "bot"][-1]
    notice = customer.page.locator(".ld-message").filter(has_text=notice_text[:40]).last
    expect(notice).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(notice).to_contain_text(notice_text)
    return notice


def test_angry_customer_is_handed_to_a_human(
    shop: Callable[..., Shop], shipped_stack: RasaStack
) -> None:
    """The shipped assistant and lingodesk's routing actions: an angry German customer asking
    for a person is queued for a German agent, and the widget shows what the server said."""
    customer = shop("de", "de-DE", shipped_stack, dev=True)
    notice = hand_off_angry_customer(customer)
    expect(notice).to_contain_text(re.compile(r"\d"))  # the queue position
    expect(customer.page.locator(".ld-typing")).to_be_hidden()
    # The developer view shows what lingodesk's language detector and the classifier made of it.
    dev = customer.messages("user").last.locator(".ld-dev")
    expect(dev).to_contain_text(re.compile(r"Language\s*de \d+%"), timeout=REPLY_TIMEOUT_MS)
    expect(dev).to_contain_text("request_human")


def test_shipped_handoff_notice_follows_the_widget_contract(
    shop: Callable[..., Shop], shipped_stack: RasaStack
) -> None:
    customer = shop("de", "de-DE", shipped_stack)
    notice = hand_off_angry_customer(customer)
    expect(notice).to_have_attribute("data-kind", "handoff_queued")
    expect(customer.page.locator(".ld-subtitle")).to_have_text(
        re.compile(r"Warten auf einen Mitarbeiter · Position \d+")
    )
