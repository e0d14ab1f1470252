"""The handoff ticket: one customer waiting for (or talking to) a human, with everything the
agent needs (reason, language, sentiment trend, transcript, entities), and how it is
validated, serialised to a Redis hash and built from a Rasa tracker's events."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from handoff.config import PRIORITIES
from handoff.errors import InvalidTicketError, check_queue
from handoff.ids import is_conversation_id, is_language_tag, is_ticket_id

# BotUttered metadata key marking a message an agent wrote (the transcript shows it as such).
AGENT_METADATA_KEY = "lingodesk_agent"

Status = Literal["waiting", "claimed", "closed"]
Outcome = Literal["created", "updated", "existing"]

_SENDERS = {"user", "bot", "agent"}


@dataclass
class Ticket:
    """One customer waiting for (or talking to) a human."""

    ticket_id: str
    conversation_id: str
    queue: str
    priority: int
    reason: str
    language: str
    sentiment_trend: list[dict[str, Any]] = field(default_factory=list)
    # [{"sender": "user" | "bot" | "agent", "text": str, "timestamp": float}], oldest first
    transcript: list[dict[str, Any]] = field(default_factory=list)
    entities: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float | None = None
    status: Status = "waiting"
    agent: str | None = None
    claimed_at: float | None = None
    closed_at: float | None = None
    escalations: int = 1

    _JSON_FIELDS = ("sentiment_trend", "transcript", "entities")

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    @property
    def priority_name(self) -> str:
        return PRIORITIES[self.priority]

    def validate(self, known_queues: Iterable[str]) -> None:
        """Check the payload before it reaches Redis; `InvalidTicketError` names the field."""

        def bad(name: str, why: str) -> InvalidTicketError:
            return InvalidTicketError(f"invalid ticket field {name!r}: {why}")

        if not is_ticket_id(self.ticket_id):
            raise bad("ticket_id", "at most 128 letters, digits and _.:@- (handoff/ids.py)")
        if not is_conversation_id(self.conversation_id):
            raise bad("conversation_id", "at most 128 letters, digits and _.:@+- (handoff/ids.py)")
        check_queue(self.queue, known_queues)
        if not isinstance(self.priority, int) or not 0 <= self.priority < len(PRIORITIES):
            raise bad("priority", f"must be an integer 0..{len(PRIORITIES) - 1}")
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise bad("reason", "must be a non-empty sentence")
        if not is_language_tag(self.language):
            raise bad("language", "must be a language code like 'de' or 'pt-BR'")
        if not isinstance(self.sentiment_trend, list):
            raise bad("sentiment_trend", "must be a list")
        if not isinstance(self.transcript, list) or not all(
            isinstance(m, dict) and m.get("sender") in _SENDERS and isinstance(m.get("text"), str)
            for m in self.transcript
        ):
            raise bad("transcript", "must be a list of {sender: user|bot|agent, text: str}")
        if not isinstance(self.entities, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.entities.items()
        ):
            raise bad("entities", "must map entity names to string values")
        if not isinstance(self.created_at, int | float) or self.created_at <= 0:
            raise bad("created_at", "must be a positive Unix time")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: Any) -> Ticket:
        """Build a ticket from JSON-like data (a slot, an API body); raise on a bad shape."""
        if not isinstance(payload, Mapping):
            raise InvalidTicketError("a ticket must be a JSON object")
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(payload) - names)
        if unknown:
            raise InvalidTicketError(f"unknown ticket field(s): {', '.join(unknown)}")
        try:
            return cls(**payload)
        except TypeError as error:  # a required field is missing
            raise InvalidTicketError(f"incomplete ticket: {error}") from error

    def to_fields(self) -> dict[str, str]:
        """The Redis hash: strings, JSON for the structured fields, no empty optionals."""
        fields = {}
        for name, value in self.to_dict().items():
            if name in self._JSON_FIELDS:
                fields[name] = json.dumps(value, ensure_ascii=False)
            elif value is not None:
                fields[name] = str(value)
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Ticket:
        numbers = {"created_at", "updated_at", "claimed_at", "closed_at"}
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name not in cls.__dataclass_fields__:
                continue
            if name in cls._JSON_FIELDS:
                values[name] = json.loads(value)
            elif name in ("priority", "escalations"):
                values[name] = int(value)
            elif name in numbers:
                values[name] = float(value)
            else:
                values[name] = value
        return cls(**values)


@dataclass(frozen=True)
class Submission:
    """What happened to a submitted ticket, and what to tell the customer."""

    outcome: Outcome
    ticket: Ticket
    position: int  # 1 = next to be claimed; 0 = an agent has it (or it is closed)
    wait_minutes: int


@dataclass(frozen=True)
class QueueStats:
    """One queue at a glance: what an agent's queue list and the supervisor's view show."""

    queue: str
    team: str
    waiting: int
    in_progress: int
    oldest_wait_seconds: float
    agents_active: int
    # Waiting tickets per priority name ("urgent", "high", "normal", "low").
    by_priority: dict[str, int] = field(default_factory=dict)


def transcript(
    events: Iterable[Mapping[str, Any]], limit: int, annotated: bool = False
) -> list[dict[str, Any]]:
    """The last `limit` messages of a Rasa tracker's events, as tickets store them.

    `annotated`: each customer message also carries what the NLU read in it (``intent`` and
    its ``confidence``, sentiment ``polarity`` -1..1, ``anger`` 0..1; None where the pipeline
    gives none), for the agents' console.
    """
    lines = []
    for event in events:
        kind = event.get("event")
        text = event.get("text")
        if kind not in ("user", "bot") or not text:
            continue
        sender = kind
        if kind == "bot" and AGENT_METADATA_KEY in (event.get("metadata") or {}):
            sender = "agent"
        line = {"sender": sender, "text": text, "timestamp": event.get("timestamp")}
        if annotated and kind == "user":
            line.update(_reading(event.get("parse_data") or {}))
        lines.append(line)
    return lines[-limit:] if limit > 0 else []


def _reading(parse: Mapping[str, Any]) -> dict[str, Any]:
    intent = parse.get("intent") or {}
    scores = (parse.get("sentiment") or {}).get("scores") or {}
    polarity = None
    if scores:
        polarity = round(float(scores.get("positive", 0)) - float(scores.get("negative", 0)), 2)
    anger = (parse.get("anger") or {}).get("score")
    return {
        "intent": intent.get("name"),
        "confidence": round(float(intent.get("confidence") or 0), 3) if intent else None,
        "polarity": polarity,
        "anger": None if anger is None else round(float(anger), 2),
    }
