"""What the widget's browser tests share: Debian's Chromium through Playwright, the demo
shop page served by `bot.web`, and `Shop`, one customer's page with the widget on it
(tests/test_widget_browser.py, tests/test_widget_handoff_browser.py)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.servers import (
    REPO_ROOT,
    RasaStack,
)

SCREENSHOTS = REPO_ROOT / "test-output" / "widget"
# The marks of every browser test module: what they need, and why they skip without it.
BROWSER_TEST_MARKS = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is missing"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is missing"),
]
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
        """The session token the widget stored (what the server issued it)."""
        return self.state()["sessionId"]

    def conversation_id(self) -> str:
        """The conversation the widget's session names, as Rasa's HTTP API knows it."""
        return self.stack.conversation_of(self.session_id())

    def state(self) -> dict[str, Any]:
        """What the widget keeps in local storage."""
        stored = self.page.evaluate(
            "() => localStorage.getItem(Object.keys(localStorage).find("
            "(key) => key.startsWith('lingodesk:')))"
        )
        return json.loads(stored)

    def user_events(self) -> list[dict[str, Any]]:
        """The customer's messages as Rasa stored them (HTTP API)."""
        events = self.stack.tracker(self.conversation_id())["events"]
        return [event for event in events if event["event"] == "user"]

    def screenshot(self, suffix: str = "") -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}{suffix}.png"
        self.page.screenshot(path=path)
        return path


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
