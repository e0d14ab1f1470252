"""Scripted support conversations with their expected handoff (data/test/conversations/).

Each file holds the conversations of one language (``language: es``) or of several
(``language: multi``, each conversation naming its own). A conversation is a list of customer
messages and what should come of them: the bot keeps it, or a ticket in ``queue`` at
``min_priority`` or above. The format is documented in data/test/conversations/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PRIORITY_NAMES = ("low", "normal", "high", "urgent")
KINDS = (
    "angry_one",
    "angry_trend",
    "threat",
    "explicit",
    "mixed",
    "calm_complaint",
    "calm_question",
    "code_switched",
    "unserved",
)
# Conversations whose customer is angry: their ticket should carry raised priority.
ANGRY_KINDS = frozenset({"angry_one", "angry_trend", "threat", "mixed"})
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class ConversationDataError(ValueError):
    """A conversation file that does not follow the format; the message names the place."""


@dataclass(frozen=True)
class Conversation:
    id: str
    language: str
    kind: str
    turns: tuple[str, ...]
    handoff: bool
    queue: str | None = None
    min_priority: str | None = None

    @property
    def angry(self) -> bool:
        return self.kind in ANGRY_KINDS

    @property
    def min_priority_level(self) -> int:
        return PRIORITY_NAMES.index(self.min_priority or "low")


def _conversation(item: Any, language: str | None, where: str) -> Conversation:
    if not isinstance(item, dict):
        raise ConversationDataError(f"{where}: a conversation must be a mapping")
    language = item.get("language", language)
    turns, expect = item.get("turns"), item.get("expect")
    if not isinstance(item.get("id"), str) or not _ID.match(item["id"]):
        raise ConversationDataError(f"{where}: id must match {_ID.pattern}")
    where = f"{where} ({item['id']})"
    if not isinstance(language, str) or language == "multi":
        raise ConversationDataError(f"{where}: no language")
    if item.get("kind") not in KINDS:
        raise ConversationDataError(f"{where}: kind must be one of {', '.join(KINDS)}")
    if not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise ConversationDataError(f"{where}: turns must be a list of non-empty messages")
    if not isinstance(expect, dict) or not isinstance(expect.get("handoff"), bool):
        raise ConversationDataError(f"{where}: expect.handoff must be true or false")
    if expect["handoff"] and (
        not isinstance(expect.get("queue"), str) or expect.get("min_priority") not in PRIORITY_NAMES
    ):
        raise ConversationDataError(
            f"{where}: a handoff needs expect.queue and expect.min_priority "
            f"({', '.join(PRIORITY_NAMES)})"
        )
    return Conversation(
        id=item["id"],
        language=language,
        kind=item["kind"],
        turns=tuple(turns),
        handoff=expect["handoff"],
        queue=expect.get("queue") if expect["handoff"] else None,
        min_priority=expect.get("min_priority") if expect["handoff"] else None,
    )


def read_conversations(directory: Path) -> list[Conversation]:
    """Every conversation of ``directory/*.yml``, in file then file order; ids are unique."""
    conversations: list[Conversation] = []
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        items = data.get("conversations")
        if not isinstance(items, list):
            raise ConversationDataError(f"{path}: needs a list under 'conversations'")
        for index, item in enumerate(items):
            conversations.append(_conversation(item, data.get("language"), f"{path}[{index}]"))
    seen: set[str] = set()
    for conversation in conversations:
        if conversation.id in seen:
            raise ConversationDataError(f"{directory}: id {conversation.id} is used twice")
        seen.add(conversation.id)
    if not conversations:
        raise ConversationDataError(f"{directory}: no conversations (*.yml)")
    return conversations
