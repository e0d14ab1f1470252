"""redis-py's exceptions turned into the handoff package's, so callers never import redis and
every Redis failure takes the documented path: `QueueUnavailableError` ("kept, delivered
later") for anything that says Redis cannot serve right now, the script's own refusals as
`TicketNotFoundError` / `NotTicketOwnerError`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from redis import exceptions as redis_errors

from handoff.errors import (
    NotTicketOwnerError,
    QueueError,
    QueueUnavailableError,
    TicketNotFoundError,
)

# Server-side refusals that mean "Redis cannot take writes right now", not "bad request".
_UNAVAILABLE_REPLIES = (
    "READONLY", "OOM", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY",
    "NOREPLICAS", "MISCONF", "NOAUTH", "WRONGPASS", "NOPERM",
)  # fmt: skip

P = ParamSpec("P")
R = TypeVar("R")


def translate_redis_errors(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn redis-py's exceptions into this package's, so callers never import redis."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except redis_errors.ResponseError as error:
            message = str(error)
            if message.startswith("NO_TICKET"):
                raise TicketNotFoundError("no such ticket") from error
            if message.startswith("CLOSED"):
                raise NotTicketOwnerError("the ticket is closed", "closed") from error
            if message.startswith("NOT_OWNER"):
                _, status, *owner = message.split(" ")
                holder = f"it is {status}" + (f" by {owner[0]}" if owner and owner[0] else "")
                raise NotTicketOwnerError(
                    f"you do not hold this ticket: {holder}", status, owner[0] if owner else ""
                ) from error
            if isinstance(error, redis_errors.ReadOnlyError) or message.startswith(
                _UNAVAILABLE_REPLIES
            ):
                raise QueueUnavailableError(f"Redis refused the write: {message}") from error
            raise QueueError(f"Redis refused the operation: {message}") from error
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
            raise QueueUnavailableError(f"Redis is unreachable: {error}") from error
        except redis_errors.RedisError as error:  # refused credentials, a broken reply, ...
            raise QueueUnavailableError(f"Redis is unavailable: {error}") from error

    return wrapper
