"""Rasa's REST and socket.io channels, plus the conversation's language in each message.

An NLU component sees one message, never the conversation, so it cannot know that the customer
who now writes "ok" has written German so far. These channels look the conversation up in the
tracker store and pass its ``language`` slot (kept by the action server) to the language
detector as ``metadata["session_language"]``. Everything else is Rasa's own channel: same
routes (``/webhooks/rest/webhook``, ``/socket.io``), same payloads.

The REST channel also refuses to let a client name a conversation: ``POST
/webhooks/rest/session`` issues a signed session token (bot/sessions.py), and a message's
``sender`` must be one; its conversation id is what Rasa sees. Bodies that are not a JSON
object with a text ``message`` get 400 with a JSON error, before Rasa reads them.

Use in credentials.yml: ``bot.channels.RestInput:`` and ``bot.channels.SocketIOInput:``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput as RasaSocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.sessions import InvalidSession, SessionSigner

logger = logging.getLogger(__name__)

SESSION_LANGUAGE = "session_language"
LANGUAGE_SLOT = "language"
# rasa-webchat's page data, sent beside the message (not inside Rasa's metadata).
CUSTOM_DATA = "customData"
# The sites allowed to embed the widget (space-separated origins); what `lingodesk run --cors`
# also gives Rasa's HTTP CORS.
CORS_ORIGINS_ENV = "LINGODESK_CORS_ORIGINS"


async def add_session_language(app: Sanic | None, message: UserMessage) -> UserMessage:
    """Copy the conversation's ``language`` slot into the message metadata, if there is one.

    A tracker store that cannot be read costs the hint, never the message.
    """
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    if agent is None or agent.tracker_store is None or not message.sender_id:
        return message
    try:
        tracker = await agent.tracker_store.retrieve(message.sender_id)
    except Exception as error:  # the store's own errors vary by backend
        logger.warning("No session language (tracker store: %s)", type(error).__name__)
        return message
    language = tracker.get_slot(LANGUAGE_SLOT) if tracker else None
    if language:
        metadata = message.metadata if isinstance(message.metadata, dict) else {}
        message.metadata = {**metadata, SESSION_LANGUAGE: language}
    return message


class _SessionLanguageMixin:
    """Wraps a Rasa channel's message callback with :func:`add_session_language`."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        server: dict[str, Sanic] = {}

        async def with_session_language(message: UserMessage) -> Any:
            return await on_new_message(await add_session_language(server.get("app"), message))

        blueprint = super().blueprint(with_session_language)  # type: ignore[misc]

        @blueprint.listener("before_server_start")
        async def remember_app(app: Sanic, _loop: Any) -> None:
            server["app"] = app

        return blueprint


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def _message_body(request: Request) -> dict[str, Any] | HTTPResponse:
    """The REST message as a JSON object with a text ``message``, or the 400 that says why not."""
    if not request.body:
        return _error(400, "the request body is empty; send JSON: {sender, message}")
    try:
        body = json.loads(request.body.decode("utf-8"))
    except UnicodeDecodeError:
        return _error(400, "the request body is not UTF-8")
    except ValueError:
        return _error(400, "the request body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "the request body must be a JSON object: {sender, message}")
    if not isinstance(body.get("message"), str):
        return _error(400, "`message` must be a string")
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        return _error(400, "`metadata` must be an object")
    return body


class RestInput(_SessionLanguageMixin, RasaRestInput):
    """Rasa's REST channel (``/webhooks/rest/webhook``) with the session language and
    server-issued sessions: ``POST /webhooks/rest/session`` answers ``{"sender": <token>,
    "conversation_id": <id>}``, and each message's ``sender`` must be such a token (or one
    the shop's backend signed with the same secret)."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # Read at start-up: a deployment without a secret fails to start, saying what to set.
        signer = SessionSigner.from_environment(os.environ)
        blueprint = super().blueprint(on_new_message)

        @blueprint.route("/session", methods=["POST"])
        async def new_session(_: Request) -> HTTPResponse:
            token, conversation = signer.new_session()
            return response.json({"sender": token, "conversation_id": conversation})

        @blueprint.middleware("request")
        async def verified_sender(request: Request) -> HTTPResponse | None:
            if request.method != "POST" or not request.path.endswith("/webhook"):
                return None
            body = _message_body(request)
            if isinstance(body, HTTPResponse):
                return body
            request.parsed_json = body  # what Rasa's handler reads: parsed once, here
            try:
                request.ctx.conversation_id = signer.conversation_id(body.get("sender"))
            except InvalidSession as error:
                return _error(401, str(error))
            return None

        return blueprint

    async def _extract_sender(self, req: Request) -> str | None:
        """The conversation id the verified session token names (never the client's word)."""
        return req.ctx.conversation_id


class SocketIOOutput(RasaSocketIOOutput):
    """Rasa's socket.io output, except that a response's ``custom`` payload is sent as the
    event's data. Rasa 3.6 calls ``sio.emit(event, **payload)``, which raises on any payload
    but ``{"data": ...}`` (RasaHQ/rasa#3823) before the turn is saved: the customer would see
    the text while the conversation lost the whole turn."""

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._send_message(recipient_id, json_message)


class SocketIOInput(_SessionLanguageMixin, RasaSocketIOInput):
    """Rasa's socket.io channel (the chat widget's) with the session language, an output that
    can carry ``custom`` payloads (handoff notices, agent messages), rasa-webchat's page data
    (``customData`` reaches the NLU as ``metadata.customData``; its ``language`` is a hint),
    and sessions the server issues.

    ``session_request`` confirms the session token the widget stored if it is genuine, else
    issues a new one; the connection is then bound to that token's conversation, and every
    message goes there whatever ``session_id`` it names. A connection from a browser page
    whose Origin is not in ``LINGODESK_CORS_ORIGINS`` (space-separated; unset: any) is refused.
    """

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        signer = SessionSigner.from_environment(os.environ)
        origins = os.environ.get(CORS_ORIGINS_ENV, "").split() or None

        async def with_output(message: UserMessage) -> Any:
            message.output_channel = SocketIOOutput(self.sio, self.bot_message_evt)
            return await on_new_message(message)

        blueprint = super().blueprint(with_output)
        namespace = self.namespace or "/"
        rasa_connect = self.sio.handlers[namespace]["connect"]
        rasa_message = self.sio.handlers[namespace][self.user_message_evt]
        # socket id -> the conversation its confirmed session names
        bound: dict[str, str] = {}

        async def connect(sid: str, environ: dict, auth: Any = None) -> bool:
            origin = environ.get("HTTP_ORIGIN")
            if origins is not None and origin and origin not in origins:
                logger.warning("socket.io connection refused: origin %r is not allowed", origin)
                return False
            return await rasa_connect(sid, environ, auth)

        async def session_request(sid: str, data: Any) -> None:
            token = data.get("session_id") if isinstance(data, dict) else None
            try:
                conversation = signer.conversation_id(token)
            except InvalidSession:
                token, conversation = signer.new_session()
            bound[sid] = conversation
            self.sio.enter_room(sid, conversation)  # sync before python-socketio 5.10
            # rasa-webchat keeps `session_id`; lingodesk's widget also shows the conversation.
            confirmation = {"session_id": token, "conversation_id": conversation}
            await self.sio.emit("session_confirm", confirmation, room=sid)

        async def user_message(sid: str, data: Any) -> Any:
            conversation = bound.get(sid)
            if conversation is None or not isinstance(data, dict):
                logger.warning("socket.io message without a confirmed session ignored")
                return None
            data = {**data, "session_id": conversation}
            if isinstance(data.get(CUSTOM_DATA), dict):
                metadata = data.get(self.metadata_key)
                metadata = dict(metadata) if isinstance(metadata, dict) else {}
                data[self.metadata_key] = {**metadata, CUSTOM_DATA: data[CUSTOM_DATA]}
            return await rasa_message(sid, data)

        async def disconnect(sid: str) -> None:
            bound.pop(sid, None)

        for event, handler in (
            ("connect", connect),
            ("session_request", session_request),
            (self.user_message_evt, user_message),
            ("disconnect", disconnect),
        ):
            self.sio.on(event, handler, namespace=self.namespace)
        return blueprint

    def get_output_channel(self) -> SocketIOOutput | None:
        """The output Rasa's HTTP API pushes through (agent replies, bot-back notices)."""
        return SocketIOOutput(self.sio, self.bot_message_evt) if self.sio else None
