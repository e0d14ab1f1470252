"""The angry customer in a real browser: the shipped assistant (domain.yml, data/, actions/)
with a fast stock NLU pipeline, served with a real Redis, hands an angry German customer to a
human queue through lingodesk's own routing actions, and the widget shows it. Shared set-up:
tests/widget_browser.py; the widget's other tests: tests/test_widget_browser.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Locator, expect

from tests.servers import RasaStack
from tests.widget_browser import (
    BROWSER_TEST_MARKS,
    REPLY_TIMEOUT_MS,
    Shop,
)

pytestmark = BROWSER_TEST_MARKS


ANGRY_GERMAN_CUSTOMER = "Unverschämt! Gib mir einen echten Menschen, der Bot bringt nix!"


def hand_off_angry_customer(customer: Shop) -> Locator:
    """The angry customer writes; returns the widget's message for the handoff notice, after
    checking that lingodesk's routing actions really queued and paused the conversation."""
    customer.open()
    customer.say(ANGRY_GERMAN_CUSTOMER)
    expect(customer.messages("user")).to_have_count(1)
    tracker: dict[str, Any] = {}

    def handed_off() -> bool:
        tracker.update(customer.stack.tracker(customer.conversation_id()))
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
    shop: Callable[..., Shop], browser_stack: RasaStack
) -> None:
    """The shipped assistant and lingodesk's routing actions: an angry German customer asking
    for a person is queued for a German agent, and the widget shows what the server said."""
    customer = shop("de", "de-DE", browser_stack, dev=True)
    notice = hand_off_angry_customer(customer)
    expect(notice).to_contain_text(re.compile(r"\d"))  # the queue position
    expect(customer.page.locator(".ld-typing")).to_be_hidden()
    # The developer view shows what lingodesk's language detector and the classifier made of it.
    dev = customer.messages("user").last.locator(".ld-dev")
    expect(dev).to_contain_text(re.compile(r"Language\s*de \d+%"), timeout=REPLY_TIMEOUT_MS)
    expect(dev).to_contain_text("request_human")


def test_shipped_handoff_notice_follows_the_widget_contract(
    shop: Callable[..., Shop], browser_stack: RasaStack
) -> None:
    customer = shop("de", "de-DE", browser_stack)
    notice = hand_off_angry_customer(customer)
    expect(notice).to_have_attribute("data-kind", "handoff_queued")
    expect(customer.page.locator(".ld-subtitle")).to_have_text(
        re.compile(r"Warten auf einen Mitarbeiter · Position \d+")
    )
