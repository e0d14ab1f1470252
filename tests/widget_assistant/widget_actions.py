"""Actions of the widget tests' assistant (served by `rasa run actions --actions widget_actions`).

``action_detect_language`` fills the ``language`` slot from what the widget sends, so the
browser tests check that the widget's metadata really reaches Rasa: the test assistant has no
language-ID model, and German or Arabic answers appear only if the hint arrived.
``action_handoff`` stands in for lingodesk's routing actions and speaks the handoff contract
of docs/widget.md (text in the customer's language plus a ``lingodesk`` custom payload).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

LANGUAGES = ("en", "de", "ar")
ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")

HANDOFF_TEXT = {
    "en": "I'm handing you over to a colleague. You are number {position} in the queue "
    "(about {wait} min).",
    "de": "Ich verbinde Sie mit einem Kollegen. Sie sind Nummer {position} in der "
    "Warteschlange (etwa {wait} Min.).",
    "ar": "سأحولك إلى أحد زملائي. ترتيبك {position} في قائمة الانتظار (حوالي {wait} دقائق).",
}

_queue_positions = itertools.count(1)


def language_of(message: dict[str, Any]) -> str:
    """The customer's language: Arabic script, else the widget's page language or browser
    language (the metadata contract), else English."""
    if ARABIC_SCRIPT.search(message.get("text") or ""):
        return "ar"
    metadata = message.get("metadata") or {}
    for tag in (metadata.get("page_language"), metadata.get("language_hint")):
        code = (tag or "").split("-")[0].lower()
        if code in LANGUAGES:
            return code
    return "en"


class DetectLanguage(Action):
    """Custom slot mapping of ``language``: run by Rasa after every user message."""

    def name(self) -> str:
        return "action_detect_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return [SlotSet("language", language_of(tracker.latest_message))]


class Handoff(Action):
    """Queues the customer for a human, as lingodesk's routing actions do."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        language = tracker.get_slot("language") or "en"
        position, wait = next(_queue_positions), 4
        dispatcher.utter_message(
            text=HANDOFF_TEXT[language].format(position=position, wait=wait),
            json_message={
                "lingodesk": {
                    "kind": "handoff_queued",
                    "queue": f"support-{language}",
                    "position": position,
                    "wait_minutes": wait,
                }
            },
        )
        return []
