"""What the agents' API answers when something fails: one middleware turns every failure into
``{"error": "..."}`` with its status, and keeps the details (Redis's address, Rasa's answer,
who holds a ticket of another team) in the server log, not in the answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.agent.accounts import AccountError
from bot.agent.authorization import ForbiddenError
from bot.agent.rasa_client import RasaError
from handoff.errors import (
    CorruptTicketError,
    InvalidTicketError,
    NotTicketOwnerError,
    QueueError,
    QueueUnavailableError,
    TicketNotFoundError,
    UnknownQueueError,
)

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY_BYTES = 64 * 1024


class BadRequestError(Exception):
    """The request is malformed (body, parameter); the message says how."""


class AuthenticationError(Exception):
    """No valid credential (401); the message says what is expected."""


class CrossSiteError(Exception):
    """A state change with the session cookie from another site (403)."""


class ThrottledError(Exception):
    """Too many failed logins (429) for `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed logins; try again later")
        self.retry_after = retry_after


STATUS_FOR_ERROR: dict[type[Exception], int] = {
    BadRequestError: 400,
    InvalidTicketError: 400,
    AccountError: 400,
    AuthenticationError: 401,
    ForbiddenError: 403,
    CrossSiteError: 403,
    UnknownQueueError: 404,
    TicketNotFoundError: 404,
    NotTicketOwnerError: 409,
    ThrottledError: 429,
    RasaError: 502,
}


def error_response(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def _not_owner_message(error: NotTicketOwnerError) -> str:
    """Whose the ticket is stays out of the answer; its state is enough to act on."""
    if error.status == "closed":
        return "the ticket is closed"
    if error.status == "claimed":
        return "you do not hold this ticket: another agent has claimed it"
    return "you do not hold this ticket: claim it first"


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ThrottledError as error:
        return error_response(429, str(error), **{"Retry-After": str(error.retry_after)})
    except NotTicketOwnerError as error:
        return error_response(409, _not_owner_message(error))
    except QueueUnavailableError as error:
        logger.warning("%s %s: %s", request.method, request.path, error)
        return error_response(503, "the ticket store is unavailable; try again shortly")
    except CorruptTicketError as error:
        logger.error("%s %s: %s", request.method, request.path, error)
        return error_response(500, "the stored ticket is malformed; it was not used")
    except (QueueError, *STATUS_FOR_ERROR) as error:
        status = next((s for t, s in STATUS_FOR_ERROR.items() if isinstance(error, t)), 500)
        if status == 500:
            logger.error("%s %s: %s", request.method, request.path, error)
            return error_response(500, "the ticket store refused the operation")
        return error_response(status, str(error))
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal error; the server log has the details")


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or `BadRequestError` saying what is wrong with it."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BadRequestError(f"the body is over {MAX_BODY_BYTES // 1024} KiB")
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequestError(f"the body is over {MAX_BODY_BYTES // 1024} KiB")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequestError(f"the body must be JSON in UTF-8: {error}") from error
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, limit: int, required: bool = True) -> str:
    """A string field of a body: stripped, at most `limit` characters, present if `required`."""
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequestError(f'"{name}" must be a non-empty string')
    if len(value) > limit:
        raise BadRequestError(f'"{name}" is over {limit} characters')
    return value.strip()
