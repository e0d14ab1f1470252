"""What can go wrong in the handoff queues, as exceptions callers can act on without knowing
Redis: `QueueUnavailableError` means "keep the ticket and deliver it later"; the others name
what was wrong with the request."""

from __future__ import annotations

from collections.abc import Iterable


class QueueError(Exception):
    """A handoff queue operation failed; the message says why."""


class QueueUnavailableError(QueueError):
    """Redis cannot be reached: the caller keeps what it wanted to write and retries later."""


class InvalidTicketError(QueueError):
    """A ticket payload is malformed; the message names the field."""


class UnknownQueueError(QueueError):
    """The queue is not in the routing configuration."""


class TicketNotFoundError(QueueError):
    """No ticket has this id (never created, or expired after closing)."""


class NotTicketOwnerError(QueueError):
    """The agent does not hold this ticket (never claimed it, or lost it after the timeout).

    `status` is the ticket's (waiting, claimed, closed) and `holder` who has it, if anyone: the
    message names the holder, so a caller answering someone outside the team leaves it out."""

    def __init__(self, message: str, status: str = "", holder: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.holder = holder


class CorruptTicketError(QueueError):
    """A ticket read back from Redis does not pass validation (written by something else, or
    tampered with): it is not used, so its fields never reach a URL or a key."""


def check_queue(queue: str, known_queues: Iterable[str]) -> None:
    """Raise `UnknownQueueError`, listing the configured queues, for anything else."""
    known = sorted(known_queues)
    if queue not in known:
        raise UnknownQueueError(f"unknown queue {queue!r}; known queues: {', '.join(known)}")
