"""Rasa's own Redis tracker and lock stores, configured from the environment.

Rasa's endpoints.yml can read ``${VAR}`` but has no defaults, so a fresh clone would fail
until every variable is exported. These subclasses take their connection settings from
endpoints.yml first, then the environment, then loopback, and change two behaviours, so that
several Rasa servers can share one Redis without losing a message:

- **Locks are atomic.** Rasa 3.6's RedisLockStore reads a conversation's lock, changes it and
  writes it back in separate commands, so two servers handling the same conversation at once
  can both get the lock, or drop each other's ticket (RasaHQ/rasa#9213; the fix, a concurrent
  lock store, went to Rasa Pro only). Here every change of a lock is one Redis transaction.
- **A Redis restart is ridden out.** A command that finds Redis unreachable is retried for
  ``LINGODESK_REDIS_RETRY_SECONDS`` (10) before Rasa gives up on the message, so a restart or
  a replica's promotion delays answers instead of dropping messages.

Environment: ``LINGODESK_REDIS_HOST`` (127.0.0.1), ``LINGODESK_REDIS_PORT`` (6379),
``LINGODESK_REDIS_PASSWORD`` (none), ``LINGODESK_REDIS_TRACKER_DB`` (0),
``LINGODESK_REDIS_LOCK_DB`` (1), ``LINGODESK_REDIS_SSL`` ("true" to use TLS),
``LINGODESK_REDIS_RETRY_SECONDS`` (10).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError
from rasa.core.lock_store import RedisLockStore as RasaRedisLockStore
from rasa.core.tracker_store import RedisTrackerStore as RasaRedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379
RETRY_SECONDS_ENV = "LINGODESK_REDIS_RETRY_SECONDS"
RETRY_INTERVAL = 0.2
_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)

T = TypeVar("T")


def redis_settings(db_variable: str, default_db: int) -> dict[str, Any]:
    """Connection settings from the environment, with loopback defaults."""
    return {
        "host": os.environ.get("LINGODESK_REDIS_HOST", DEFAULT_HOST),
        "port": int(os.environ.get("LINGODESK_REDIS_PORT", DEFAULT_PORT)),
        "db": int(os.environ.get(db_variable, default_db)),
        "password": os.environ.get("LINGODESK_REDIS_PASSWORD") or None,
        "use_ssl": os.environ.get("LINGODESK_REDIS_SSL", "").lower() == "true",
    }


def retry_seconds() -> float:
    """How long a Redis command keeps trying while Redis is unreachable."""
    return float(os.environ.get(RETRY_SECONDS_ENV, 10))


def retrying(call: Callable[[], T], seconds: float) -> T:
    """``call()``, repeated every RETRY_INTERVAL while Redis is unreachable, for ``seconds``.

    Blocking, like Rasa's Redis stores themselves: while Redis is down this server cannot
    answer anyone anyway.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except _UNREACHABLE:
            if time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_INTERVAL)


class PatientRedis(redis.Redis):
    """A Redis client whose commands ride out a restart (see :func:`retrying`)."""

    def __init__(self, *args: Any, retry_seconds: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_seconds = retry_seconds

    def execute_command(self, *args: Any, **options: Any) -> Any:
        execute = super().execute_command
        return retrying(lambda: execute(*args, **options), self.retry_seconds)


def _patient(client: redis.Redis) -> PatientRedis:
    """The same connections (pool and settings), made patient."""
    return PatientRedis(connection_pool=client.connection_pool, retry_seconds=retry_seconds())


class RedisTrackerStore(RasaRedisTrackerStore):
    """Rasa's RedisTrackerStore; unset connection settings come from the environment."""

    def __init__(self, domain: Domain, host: str | None = None, **kwargs: Any) -> None:
        settings = redis_settings("LINGODESK_REDIS_TRACKER_DB", 0)
        if host:
            settings["host"] = host
        super().__init__(domain=domain, **{**settings, **kwargs})
        self.red = _patient(self.red)


class RedisLockStore(RasaRedisLockStore):
    """Rasa's RedisLockStore with atomic lock changes; unset connection settings come from
    the environment.

    Rasa's ticket lock is kept as is (a conversation's messages are served in arrival order,
    one at a time); only the read-modify-write of the stored lock becomes a WATCH/MULTI/EXEC
    transaction, retried when another server changed the lock in between.
    """

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        settings = redis_settings("LINGODESK_REDIS_LOCK_DB", 1)
        if endpoint_config is not None:
            if endpoint_config.url:
                settings["host"] = endpoint_config.url
            settings.update(endpoint_config.kwargs)
        super().__init__(**{**settings, **kwargs})
        self.red = _patient(self.red)

    def _change(
        self,
        conversation_id: str,
        change: Callable[[TicketLock | None], tuple[T, TicketLock | None]],
    ) -> T:
        """Apply ``change`` to the stored lock atomically. ``change`` gets the lock (None when
        there is none) and returns its result and the lock to store (None: delete it)."""
        key = self.key_prefix + conversation_id

        def transaction() -> T:
            with self.red.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        stored = pipe.get(key)
                        lock = TicketLock.from_dict(json.loads(stored)) if stored else None
                        result, changed = change(lock)
                        new = None if changed is None else changed.dumps().encode()
                        if new == stored:  # nothing to write: no write conflicts either
                            pipe.unwatch()
                            return result
                        pipe.multi()
                        if new is None:
                            pipe.delete(key)
                        else:
                            pipe.set(key, new)
                        pipe.execute()
                        return result
                    except redis.WatchError:
                        continue  # another server changed the lock: start over

        return retrying(transaction, self.red.retry_seconds)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def issue(lock: TicketLock | None) -> tuple[int, TicketLock]:
            lock = lock or self.create_lock(conversation_id)
            return lock.issue_ticket(lock_lifetime), lock

        try:
            return self._change(conversation_id, issue)
        except redis.RedisError as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        def prune(lock: TicketLock | None) -> tuple[None, TicketLock | None]:
            if lock:
                lock.remove_expired_tickets()
            return None, lock

        self._change(conversation_id, prune)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Finish the ticket and delete the lock if nobody waits, in one transaction (Rasa's
        steps, `finish_serving` then `delete_lock`, could delete a ticket another server
        issued in between)."""

        def finish_and_release(lock: TicketLock | None) -> tuple[None, TicketLock | None]:
            if lock:
                lock.remove_ticket_for(ticket_number)
            return None, lock if lock and lock.is_someone_waiting() else None

        self._change(conversation_id, finish_and_release)
