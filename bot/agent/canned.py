"""Canned replies: the assistant's own responses in domain.yml, per language, for an agent to
insert (and edit) in the customer's language.

A response's variation with ``condition: [{type: slot, name: language, value: es}]`` is its
Spanish text; the variation without a condition is the default language's (the fallback the
bot itself uses). Responses with no text (custom payloads only) are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

CannedReplies = dict[str, dict[str, str]]  # language -> response name -> text


def _language_of(variation: Mapping[str, Any]) -> str | None:
    """The language a variation is conditioned on; "" for the unconditioned one."""
    conditions = variation.get("condition") or []
    languages = [
        c.get("value")
        for c in conditions
        if isinstance(c, Mapping) and c.get("type") == "slot" and c.get("name") == "language"
    ]
    if len(conditions) != len(languages):  # conditioned on something else: not a language text
        return None
    return str(languages[0]) if languages else ""


def canned_replies(domain: Mapping[str, Any], default_language: str) -> CannedReplies:
    """Every response's text per language (unconditioned variations count as
    `default_language`'s)."""
    replies: CannedReplies = {}
    for name, variations in (domain.get("responses") or {}).items():
        for variation in variations or []:
            if not isinstance(variation, Mapping) or not variation.get("text"):
                continue
            language = _language_of(variation)
            if language is None:
                continue
            replies.setdefault(language or default_language, {}).setdefault(
                str(name), str(variation["text"])
            )
    return replies


def load_canned_replies(domain_path: Path, default_language: str) -> CannedReplies:
    """From the assistant's domain.yml; none (and a warning) when it cannot be read."""
    try:
        domain = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        logger.warning("no canned replies: cannot read %s (%s)", domain_path, error)
        return {}
    return canned_replies(domain, default_language)


def replies_for(replies: CannedReplies, language: str, default_language: str) -> list[dict]:
    """[{name, text, language}] in `language`, with the default language's text for responses
    the assistant has no translation of (marked with their language)."""
    own = replies.get(language, {})
    fallback = replies.get(default_language, {})
    names = sorted(set(own) | set(fallback))
    return [
        {
            "name": n,
            "text": own.get(n, fallback.get(n)),
            "language": language if n in own else default_language,
        }
        for n in names
    ]
