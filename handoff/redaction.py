"""Masking customers' personal data in logs and handoff transcripts.

A support desk's logs are read by more people, kept longer and copied to more places than its
conversations, so nothing that identifies a customer belongs in them. Two tools:

- :func:`redact` replaces e-mail addresses, phone numbers, lingodesk order numbers
  (``LD-123456``), parcel tracking numbers and card-like digit runs with placeholders such
  as ``[email]``. The handoff transcript uses it when ``handoff.redact_transcript`` is on
  (handoff/routing.yml).
- :class:`RedactingFilter` is a logging filter for the handlers of the Rasa server and the
  action server (``bot/logging.yml``; `lingodesk run` passes it to both). Every record above
  DEBUG is redacted; for Rasa's structured (JSON) log events it also removes the fields that
  carry conversation content (the customer's text, slot values, ...) and the local variables
  of tracebacks. DEBUG records are left whole: debugging a conversation needs its text, and
  production runs at INFO.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Characters of an e-mail address before the "@" (RFC 5322's atom characters and dots).
_LOCAL_PART = r"\w.!#$%&'*+/=?^`{|}~-"
# Placeholders carry no digits and no "@", so redacting twice changes nothing.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # The look-behind starts a match only where a run of address characters starts, which
    # keeps a 100,000-character message linear.
    ("[email]", re.compile(rf"(?<![{_LOCAL_PART}])[{_LOCAL_PART}]+@[\w-]+(?:\.[\w-]+)+")),
    # The order_number regex of data/nlu/en.yml.
    ("[order]", re.compile(r"(?<![A-Za-z0-9])[Ll][Dd][- ]?[0-9]{6}(?![0-9])")),
    # UPS 1Z..., DHL Paket (J)JD + 18 digits; 12-digit carrier numbers fall under the digit
    # rules below.
    ("[tracking]", re.compile(r"\b1Z[0-9A-Z]{16}\b|\bJ?JD[0-9]{18}\b")),
    # Payment cards: 13 to 19 digits, optionally grouped by spaces or dashes.
    ("[card]", re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")),
    # Phone numbers and other long numbers (12-digit tracking numbers, IBAN digit runs): 9 to
    # 15 digits with the separators people write. Dates (8 digits) and prices stay readable.
    ("[number]", re.compile(r"(?<![\w+])\+?\(?\d(?:[\s./()-]{0,2}\d){8,14}(?!\d)")),
)

# Rasa 3.6's own list of structured-log fields that hold conversation content (the keys its
# `rasa.utils.log_utils._anonymizer` hands to an anonymization pipeline). Open-source Rasa
# ships no such pipeline, so these fields reach the log verbatim unless removed here.
CONVERSATION_FIELDS = frozenset(
    {
        "text", "response_text", "user_text", "slot_values", "parse_data_text",
        "parse_data_entities", "prediction_events", "tracker_latest_message",
        "prefilled_slots", "message", "response", "slot_candidates", "rasa_event",
        "rasa_events", "tracker_states", "current_states", "old_states", "successes",
        "current_entity", "next_entity", "states", "entity", "token_text", "user_message",
        "json_message",
    }
)  # fmt: skip
REMOVED = "[removed]"


def redact(text: str) -> str:
    """``text`` with personal data replaced by placeholders (``[email]``, ``[order]``, ...)."""
    for placeholder, pattern in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text


def redact_transcript(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Transcript lines (``{sender, text, timestamp}``) with each text redacted."""
    return [{**line, "text": redact(str(line.get("text", "")))} for line in lines]


class RedactingFilter(logging.Filter):
    """Redacts every record above ``level`` before a handler writes it (see the module doc).

    Install it on handlers, not loggers: a logger's filters do not see the records its
    children propagate, a handler's see all it writes.
    """

    def __init__(self, name: str = "", level: int = logging.DEBUG) -> None:
        super().__init__(name)
        self.level = level
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= self.level:
            return True
        record.msg = _redact_message(record.getMessage())
        record.args = ()
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set, so the traceback is redacted too.
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add a :class:`RedactingFilter` to every handler of ``logger`` (default: the root)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def _redact_message(message: str) -> str:
    """A rendered log message, redacted; Rasa's JSON events lose their conversation fields."""
    if message.startswith("{") and message.endswith("}"):
        try:
            event = json.loads(message)
        except ValueError:
            event = None
        if isinstance(event, dict) and "event" in event:
            return json.dumps(_redact_event(event))
    return redact(message)


def _redact_event(value: Any, key: str | None = None) -> Any:
    if key in CONVERSATION_FIELDS:
        return REMOVED
    if isinstance(value, dict):
        # structlog's dict tracebacks carry each frame's local variables: the customer's text
        # is a local of the REST channel's handler.
        return {k: _redact_event(v, k) for k, v in value.items() if k != "locals"}
    if isinstance(value, list):
        return [_redact_event(item) for item in value]
    return redact(value) if isinstance(value, str) else value
