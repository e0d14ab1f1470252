"""The routing policy: after each user message, does the conversation stay with the bot or go
to a human, to which queue, with which priority, and why.

Plain Python on purpose (no Rasa, no Redis): the decision is the part of the handoff that
people argue about, so it must be testable over a table of conversations in milliseconds.
`decide` reads one `Turn` per user message (built from Rasa's parse result by
`Turn.from_parse`) and a `RoutingConfig` (actions/routing.yml, loaded by `load_config`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).with_name("routing.yml")
CONFIG_PATH_ENV = "LINGODESK_ROUTING_CONFIG"
REDIS_URL_ENV = "LINGODESK_REDIS_URL"

PRIORITIES = ("low", "normal", "high", "urgent")

# Names used in the reasons agents read; a code missing here is shown as the code.
LANGUAGE_NAMES = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French",
    "it": "Italian", "ja": "Japanese", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese",
    "tr": "Turkish", "zh": "Chinese",
}  # fmt: skip


class ConfigError(ValueError):
    """The routing configuration is malformed; the message names the key."""


# --------------------------------------------------------------------------- configuration
# Every default below is the value written in actions/routing.yml.


@dataclass(frozen=True)
class QueueConfig:
    """Which queue serves which language, and which agent team works each queue."""

    prefix: str = "agents_"
    languages: Mapping[str, str] = field(default_factory=lambda: {"it": "agents_it"})
    multilingual: str = "agents_multilingual"
    teams: Mapping[str, str] = field(default_factory=dict)

    def for_language(self, language: str, served: Sequence[str]) -> str:
        """The queue for a customer writing `language`."""
        if language in self.languages:
            return self.languages[language]
        if language in served:
            return f"{self.prefix}{language}"
        return self.multilingual

    def team(self, queue: str) -> str:
        """The consumer group (agent team) that works `queue`."""
        return self.teams.get(queue, queue)


@dataclass(frozen=True)
class ExplicitRequestRule:
    intents: tuple[str, ...] = ("request_human",)


@dataclass(frozen=True)
class AngerRule:
    min_confidence: float = 0.7
    turns: int = 2
    window: int = 3
    sharp_drop: float = 1.0


@dataclass(frozen=True)
class FallbackRule:
    intent: str = "nlu_fallback"
    turns: int = 2
    window: int = 3


@dataclass(frozen=True)
class Rules:
    explicit_request: ExplicitRequestRule = field(default_factory=ExplicitRequestRule)
    anger: AngerRule = field(default_factory=AngerRule)
    repeated_fallback: FallbackRule = field(default_factory=FallbackRule)


@dataclass(frozen=True)
class PriorityConfig:
    base: str = "normal"
    anger: int = 1
    high_value_order: int = 1
    high_value_amount: float = 500.0
    high_value_amounts: Mapping[str, float] = field(
        default_factory=lambda: {"JPY": 75000.0, "CNY": 3500.0}
    )

    @property
    def base_level(self) -> int:
        return PRIORITIES.index(self.base)

    def threshold(self, currency: str | None) -> float:
        """The order value from which `currency` amounts raise the priority."""
        return self.high_value_amounts.get((currency or "").upper(), self.high_value_amount)


@dataclass(frozen=True)
class HandoffConfig:
    """How tickets are kept in Redis and delivered (read by actions/queues.py and the agent API)."""

    redis_url: str = "redis://127.0.0.1:6379/2"
    redis_db: int = 2
    key_prefix: str = "lingodesk"
    transcript_turns: int = 20
    history_turns: int = 10
    claim_timeout_seconds: float = 300.0
    minutes_per_ticket: float = 6.0
    closed_ticket_ttl_days: float = 30.0
    pull_channels: tuple[str, ...] = ("rest",)
    retry_interval_seconds: float = 5.0
    redelivery_seconds: float = 900.0
    redis_timeout_seconds: float = 2.0
    redact_transcript: bool = False


@dataclass(frozen=True)
class RoutingConfig:
    served_languages: tuple[str, ...] = ("en", "es", "de", "fr", "pt", "zh", "ja", "ar")
    default_language: str = "en"
    language_confidence: float = 0.8
    queues: QueueConfig = field(default_factory=QueueConfig)
    rules: Rules = field(default_factory=Rules)
    priority: PriorityConfig = field(default_factory=PriorityConfig)
    handoff: HandoffConfig = field(default_factory=HandoffConfig)

    def __post_init__(self) -> None:
        if self.priority.base not in PRIORITIES:
            raise ConfigError(f"priority.base must be one of {', '.join(PRIORITIES)}")
        windowed = {"anger": self.rules.anger, "repeated_fallback": self.rules.repeated_fallback}
        for name, rule in windowed.items():
            if not 1 <= rule.turns <= rule.window:
                raise ConfigError(f"rules.{name}: need 1 <= turns <= window")
        if not self.served_languages:
            raise ConfigError("served_languages must not be empty")

    def queue_for(self, language: str) -> str:
        """The queue for a customer writing `language`."""
        return self.queues.for_language(language, self.served_languages)

    @property
    def known_queues(self) -> frozenset[str]:
        """Every queue this configuration can route to; anything else is an unknown queue."""
        served = {self.queue_for(code) for code in self.served_languages}
        return frozenset({*served, *self.queues.languages.values(), self.queues.multilingual})


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate the config dataclass `cls` from YAML data, keeping defaults for missing keys.

    Types are checked against the defaults so a typo or a wrong type fails at start-up with the
    key's path instead of misrouting customers later.
    """
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'the routing config'} must be a mapping")
    defaults = cls()
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in {where or 'the routing config'} "
            f"(known: {', '.join(sorted(names))})"
        )
    values = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        values[name] = _convert(getattr(defaults, name), value, path)
    return cls(**values)


def _convert(default: Any, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(default):
        return _build(type(default), value, path)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path} must be a list of strings")
        return tuple(value)
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path} must be a mapping")
        sample = next(iter(default.values()), None)
        if isinstance(sample, float):
            return {str(k): _convert(sample, v, f"{path}.{k}") for k, v in value.items()}
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, not {value!r}")
        return value
    kind = {float: "a number", int: "an integer", str: "a string"}[type(default)]
    if isinstance(value, bool):
        raise ConfigError(f"{path} must be {kind}, not {value!r}")
    if isinstance(default, float) and isinstance(value, int | float):
        return float(value)
    if not isinstance(value, type(default)):
        raise ConfigError(f"{path} must be {kind}, not {value!r}")
    return value


def load_config(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> RoutingConfig:
    """Read the routing config (LINGODESK_ROUTING_CONFIG or actions/routing.yml).

    The Redis URL is resolved here, once: LINGODESK_REDIS_URL, else the LINGODESK_REDIS_HOST /
    _PORT / _PASSWORD variables that Rasa's stores use (so one setting moves all of lingodesk's
    Redis traffic), else the file's `handoff.redis_url`.
    """
    environ = os.environ if environ is None else environ
    path = Path(path or environ.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG_PATH)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read routing config {path}: {error}") from error
    config = _build(RoutingConfig, data, "")
    url = environ.get(REDIS_URL_ENV)
    if not url and ("LINGODESK_REDIS_HOST" in environ or "LINGODESK_REDIS_PORT" in environ):
        password = environ.get("LINGODESK_REDIS_PASSWORD")
        host = environ.get("LINGODESK_REDIS_HOST", "127.0.0.1")
        port = environ.get("LINGODESK_REDIS_PORT", "6379")
        auth = f":{quote(password, safe='')}@" if password else ""
        url = f"redis://{auth}{host}:{port}/{config.handoff.redis_db}"
    if url:
        config = dataclasses.replace(
            config, handoff=dataclasses.replace(config.handoff, redis_url=url)
        )
    return config


# --------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class Turn:
    """What the policy knows about one user message."""

    intent: str | None = None
    language: str | None = None
    language_confidence: float = 0.0
    sentiment: str | None = None
    sentiment_confidence: float = 0.0
    # P(positive) - P(negative): -1 (furious) .. +1 (delighted).
    polarity: float = 0.0
    entities: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_parse(cls, parse: Mapping[str, Any]) -> Turn:
        """Read Rasa's parse result with lingodesk's `language` and `sentiment` keys.

        Missing keys (a message the NLU did not annotate, an external event) give a neutral,
        language-less turn rather than an error: the policy must never break a conversation.
        """
        language = parse.get("language") or {}
        sentiment = parse.get("sentiment") or {}
        scores = sentiment.get("scores") or {}
        label = sentiment.get("label")
        confidence = float(sentiment.get("confidence") or 0.0)
        if scores:
            polarity = float(scores.get("positive", 0.0)) - float(scores.get("negative", 0.0))
        else:
            polarity = {"positive": confidence, "negative": -confidence}.get(label, 0.0)
        entities = {
            str(e["entity"]): str(e["value"])
            for e in parse.get("entities") or []
            if e.get("entity") and e.get("value") is not None
        }
        return cls(
            intent=(parse.get("intent") or {}).get("name"),
            language=language.get("code"),
            language_confidence=float(language.get("confidence") or 0.0),
            sentiment=label,
            sentiment_confidence=confidence,
            polarity=polarity,
            entities=entities,
        )


@dataclass(frozen=True)
class Stay:
    """The bot keeps the conversation."""


@dataclass(frozen=True)
class Escalate:
    """Hand the conversation to a human."""

    queue: str
    priority: int  # index into PRIORITIES
    # A sentence or two for the agent, stored with the ticket.
    reason: str
    # Names of the rules that fired (explicit_request, anger, repeated_fallback, language).
    rules: tuple[str, ...] = ()

    @property
    def priority_name(self) -> str:
        return PRIORITIES[self.priority]


Decision = Stay | Escalate


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def conversation_language(turn: Turn, previous: str | None, config: RoutingConfig) -> str:
    """The customer's language after this message.

    A confident detection wins (also for a language the bot does not serve: the ticket must
    carry it, and replies fall back to the default language through the domain's responses).
    Otherwise the conversation keeps its language; a first, unsure message counts only when it
    is in a served language.
    """
    if turn.language and turn.language_confidence >= config.language_confidence:
        return turn.language
    if previous:
        return previous
    if turn.language in config.served_languages:
        return turn.language
    return config.default_language


def _explicit_request(turn: Turn, _: Sequence[Turn], config: RoutingConfig) -> str | None:
    if turn.intent in config.rules.explicit_request.intents:
        return "The customer asked to talk to a person."
    return None


def _anger(turn: Turn, recent: Sequence[Turn], config: RoutingConfig) -> str | None:
    rule = config.rules.anger
    window = recent[-rule.window :]
    angry = sum(
        t.sentiment == "negative" and t.sentiment_confidence >= rule.min_confidence for t in window
    )
    if angry >= rule.turns:
        return (
            f"The customer is angry: negative sentiment in {angry} of the last "
            f"{len(window)} messages."
        )
    if len(recent) >= 2 and turn.sentiment == "negative":
        before = recent[-2].polarity
        if before - turn.polarity >= rule.sharp_drop:
            return (
                f"The customer's mood dropped sharply (polarity {before:+.2f} -> "
                f"{turn.polarity:+.2f})."
            )
    return None


def _repeated_fallback(turn: Turn, recent: Sequence[Turn], config: RoutingConfig) -> str | None:
    rule = config.rules.repeated_fallback
    window = recent[-rule.window :]
    misses = sum(t.intent == rule.intent for t in window)
    if misses >= rule.turns:
        return f"The bot did not understand {misses} of the last {len(window)} messages."
    return None


def _unserved_language(turn: Turn, _: Sequence[Turn], config: RoutingConfig) -> str | None:
    code = turn.language
    if (
        code
        and turn.language_confidence >= config.language_confidence
        and code not in config.served_languages
    ):
        return (
            f"The customer writes {language_name(code)} ({code}, confidence "
            f"{turn.language_confidence:.2f}), which the bot does not serve."
        )
    return None


RULES = (
    ("explicit_request", _explicit_request),
    ("anger", _anger),
    ("repeated_fallback", _repeated_fallback),
    ("language", _unserved_language),
)


def parse_amount(text: str) -> float | None:
    """Read an order value as people write it: "1.299,90", "1,299.90", "€ 500", "75000"."""
    digits = re.sub(r"[^\d.,]", "", text)
    if not re.search(r"\d", digits):
        return None
    last_separator = max(digits.rfind(","), digits.rfind("."))
    # A separator followed by exactly one or two digits is the decimal mark.
    if last_separator >= 0 and 1 <= len(digits) - last_separator - 1 <= 2:
        whole = re.sub(r"[.,]", "", digits[:last_separator])
        number = f"{whole}.{digits[last_separator + 1 :]}"
    else:
        number = re.sub(r"[.,]", "", digits)
    try:
        return float(number)
    except ValueError:
        return None


def _high_value_order(recent: Sequence[Turn], config: RoutingConfig) -> str | None:
    """The largest order value of the conversation at or over its currency's threshold."""
    best: tuple[float, str] | None = None
    for turn in recent:
        amount = parse_amount(turn.entities.get("amount", ""))
        currency = turn.entities.get("currency", "").upper()
        if amount is None or amount < config.priority.threshold(currency):
            continue
        if best is None or amount > best[0]:
            best = (amount, currency)
    if best is None:
        return None
    amount, currency = best
    threshold = config.priority.threshold(currency)
    return f"an order of {amount:g} {currency or ''}".rstrip() + f" (from {threshold:g} up)"


def decide(turn: Turn, history: Sequence[Turn], language: str, config: RoutingConfig) -> Decision:
    """Stay with the bot, or escalate: the queue for `language`, a priority and the reason.

    `history` holds the earlier user messages of the conversation since the bot last took it
    over (oldest first), `turn` the message just received, `language` the conversation's
    language from `conversation_language`. Every rule that fires is named in the reason.
    """
    recent = [*history, turn]
    fired = [(name, rule(turn, recent, config)) for name, rule in RULES]
    fired = [(name, sentence) for name, sentence in fired if sentence]
    if not fired:
        return Stay()
    priority = config.priority.base_level
    raised = []
    if any(name == "anger" for name, _ in fired):
        priority += config.priority.anger
        raised.append("anger")
    order = _high_value_order(recent, config)
    if order:
        priority += config.priority.high_value_order
        raised.append(order)
    priority = max(0, min(priority, len(PRIORITIES) - 1))
    queue = config.queue_for(language)
    summary = f"Priority {PRIORITIES[priority]}"
    summary += f", raised for {' and '.join(raised)}." if raised else "."
    reason = " ".join([*(sentence for _, sentence in fired), f"Queue {queue}.", summary])
    return Escalate(
        queue=queue, priority=priority, reason=reason, rules=tuple(name for name, _ in fired)
    )


def reopened(language: str, reason: str | None, config: RoutingConfig) -> Escalate:
    """The escalation for a conversation whose open ticket outlived the bot's pause.

    Rasa un-pauses a conversation when a new session starts; the ticket is still open, so the
    conversation goes back to the queue it was in (the ticket is updated, not duplicated).
    """
    return Escalate(
        queue=config.queue_for(language),
        priority=config.priority.base_level,
        reason=reason or "The customer came back while their ticket was still open.",
        rules=("open_ticket",),
    )
