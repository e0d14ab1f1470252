"""The one pattern each kind of id from outside must match before it reaches a Redis key, a
URL or a path: conversation ids (Rasa sender ids: the widget's session id, a REST `sender`),
ticket ids and language tags (queue names are checked against the routing config). A `/`, a
space or `..` never gets through, so an id cannot climb out of its place in a URL
(`/conversations/{id}/tracker`) or a key.
"""

from __future__ import annotations

import re

# Letters, digits and _ . : @ + - (what Rasa's channels, e-mail-like REST senders and uuids
# use), starting with a letter or digit, at most 128 characters.
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$")
TICKET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


# A language code or BCP-47-like tag: "de", "pt-BR", "zh-Hant-TW".
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def is_language_tag(value: object) -> bool:
    return isinstance(value, str) and bool(LANGUAGE_TAG.match(value))


def is_conversation_id(value: object) -> bool:
    return isinstance(value, str) and bool(CONVERSATION_ID.match(value)) and ".." not in value


def is_ticket_id(value: object) -> bool:
    return isinstance(value, str) and bool(TICKET_ID.match(value)) and ".." not in value
