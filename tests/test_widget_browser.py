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

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from benchmarks.assistant import prepare_project
from tests.servers import (
    RasaStack,
    http_json,
    train,
)
from tests.widget_browser import (
    BROWSER_TEST_MARKS,
    REPLY_TIMEOUT_MS,
    WIDGET_ASSISTANT,
    Shop,
    record_typing_indicator,
)

pytestmark = BROWSER_TEST_MARKS


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

    push = f"{widget_stack.url}/conversations/{customer.conversation_id()}/tracker/events"
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
