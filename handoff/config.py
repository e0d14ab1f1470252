"""The routing configuration's schema: which languages the bot serves, which queue serves
which language, the escalation rules, priorities and how tickets are kept.

Frozen dataclasses whose defaults are the values written in handoff/routing.yml, so code and
file cannot disagree; `handoff.config_loader.load_config` builds them from the file. Plain
Python: the policy (handoff/policy.py) and the queues read these without YAML or Redis.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PRIORITIES = ("low", "normal", "high", "urgent")

# Names used in the reasons agents read; a code missing here is shown as the code.
LANGUAGE_NAMES = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French",
    "it": "Italian", "ja": "Japanese", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese",
    "tr": "Turkish", "zh": "Chinese",
}  # fmt: skip


class ConfigError(ValueError):
    """The routing configuration is malformed; the message names the key."""


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
    # The NLU's wants_human signal (0..1) from which a message asks for a person whatever its
    # intent (a complaint that also demands a human).
    signal_threshold: float = 0.5
    # Without that signal: an intent of `intents` this confident and at most `near_top_margin`
    # below the top intent counts too (a message can carry two intents).
    near_top_confidence: float = 0.25
    near_top_margin: float = 0.2


@dataclass(frozen=True)
class AngerRule:
    # With the NLU's anger intensity (0 calm, 0.5 frustrated, 1 angry): one message at
    # `strong` or above escalates; `turns` of the last `window` at `frustrated` or above
    # escalate; so does one at `frustrated` when the bot failed them (a fallback in the window,
    # this message's included, or the customer repeating an earlier message).
    strong: float = 0.75
    frustrated: float = 0.4
    after_failure: bool = True
    # Without an anger intensity (a sentiment-only NLU): negative sentiment with at least
    # `min_confidence` in `turns` of the last `window` messages.
    min_confidence: float = 0.7
    turns: int = 2
    window: int = 3
    sharp_drop: float = 1.0


@dataclass(frozen=True)
class ThreatRule:
    # A message whose threat signal (lawyer, chargeback, closing the account, a public review)
    # reaches this goes to a person even when it reads calm: what follows a threat is a
    # decision the bot cannot make. Above 1: never.
    threshold: float = 0.5


@dataclass(frozen=True)
class FallbackRule:
    intent: str = "nlu_fallback"
    turns: int = 2
    window: int = 3


@dataclass(frozen=True)
class Rules:
    explicit_request: ExplicitRequestRule = field(default_factory=ExplicitRequestRule)
    anger: AngerRule = field(default_factory=AngerRule)
    threat: ThreatRule = field(default_factory=ThreatRule)
    repeated_fallback: FallbackRule = field(default_factory=FallbackRule)


@dataclass(frozen=True)
class PriorityConfig:
    base: str = "normal"
    anger: int = 1
    # Levels added when a message threatens consequences (lawyer, chargeback, leaving, a
    # public review): the NLU's threat signal at or above `threat_threshold`.
    threat: int = 1
    threat_threshold: float = 0.5
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
    """How tickets are kept in Redis and delivered (read by handoff/queues.py and the agent API)."""

    redis_url: str = "redis://127.0.0.1:6379/2"
    redis_db: int = 2
    key_prefix: str = "lingodesk"
    transcript_turns: int = 20
    history_turns: int = 10
    claim_timeout_seconds: float = 300.0
    minutes_per_ticket: float = 6.0
    closed_ticket_ttl_days: float = 30.0
    open_ticket_ttl_days: float = 30.0
    outbox_ttl_days: float = 7.0
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
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", self.handoff.key_prefix):
            raise ConfigError("handoff.key_prefix: 1 to 32 letters, digits, _ or -")

    def queue_for(self, language: str) -> str:
        """The queue for a customer writing `language`."""
        return self.queues.for_language(language, self.served_languages)

    @property
    def known_queues(self) -> frozenset[str]:
        """Every queue this configuration can route to; anything else is an unknown queue."""
        served = {self.queue_for(code) for code in self.served_languages}
        return frozenset({*served, *self.queues.languages.values(), self.queues.multilingual})
