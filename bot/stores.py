"""Rasa's own Redis tracker and lock stores, configured from the environment.

Rasa's endpoints.yml can read ``${VAR}`` but has no defaults, so a fresh clone would fail
until every variable is exported. These subclasses change nothing but where the connection
settings come from: a value written in endpoints.yml wins, then the environment, then
loopback. Several Rasa servers pointed at the same Redis share conversations and locks
exactly as with ``type: redis`` (this *is* Rasa's RedisTrackerStore / RedisLockStore).

Environment: ``LINGODESK_REDIS_HOST`` (127.0.0.1), ``LINGODESK_REDIS_PORT`` (6379),
``LINGODESK_REDIS_PASSWORD`` (none), ``LINGODESK_REDIS_TRACKER_DB`` (0),
``LINGODESK_REDIS_LOCK_DB`` (1), ``LINGODESK_REDIS_SSL`` ("true" to use TLS).
"""

from __future__ import annotations

import os
from typing import Any

from rasa.core.lock_store import RedisLockStore as RasaRedisLockStore
from rasa.core.tracker_store import RedisTrackerStore as RasaRedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379


def redis_settings(db_variable: str, default_db: int) -> dict[str, Any]:
    """Connection settings from the environment, with loopback defaults."""
    return {
        "host": os.environ.get("LINGODESK_REDIS_HOST", DEFAULT_HOST),
        "port": int(os.environ.get("LINGODESK_REDIS_PORT", DEFAULT_PORT)),
        "db": int(os.environ.get(db_variable, default_db)),
        "password": os.environ.get("LINGODESK_REDIS_PASSWORD") or None,
        "use_ssl": os.environ.get("LINGODESK_REDIS_SSL", "").lower() == "true",
    }


class RedisTrackerStore(RasaRedisTrackerStore):
    """Rasa's RedisTrackerStore; unset connection settings come from the environment."""

    def __init__(self, domain: Domain, host: str | None = None, **kwargs: Any) -> None:
        settings = redis_settings("LINGODESK_REDIS_TRACKER_DB", 0)
        if host:
            settings["host"] = host
        super().__init__(domain=domain, **{**settings, **kwargs})


class RedisLockStore(RasaRedisLockStore):
    """Rasa's RedisLockStore; unset connection settings come from the environment."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        settings = redis_settings("LINGODESK_REDIS_LOCK_DB", 1)
        if endpoint_config is not None:
            if endpoint_config.url:
                settings["host"] = endpoint_config.url
            settings.update(endpoint_config.kwargs)
        super().__init__(**{**settings, **kwargs})
