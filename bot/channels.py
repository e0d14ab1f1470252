"""Rasa's REST and socket.io channels, plus the conversation's language in each message.

An NLU component sees one message, never the conversation, so it cannot know that the customer
who now writes "ok" has written German so far. These channels look the conversation up in the
tracker store and pass its ``language`` slot (kept by the action server) to the language
detector as ``metadata["session_language"]``. Everything else is Rasa's own channel: same
routes (``/webhooks/rest/webhook``, ``/socket.io``), same payloads.

Use in credentials.yml: ``bot.channels.RestInput:`` and ``bot.channels.SocketIOInput:``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput as RasaSocketIOOutput
from sanic import Blueprint, Sanic

logger = logging.getLogger(__name__)

SESSION_LANGUAGE = "session_language"
LANGUAGE_SLOT = "language"
# rasa-webchat's page data, sent beside the message (not inside Rasa's metadata).
CUSTOM_DATA = "customData"


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


class RestInput(_SessionLanguageMixin, RasaRestInput):
    """Rasa's REST channel (``/webhooks/rest/webhook``) with the session language."""


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
    can carry ``custom`` payloads (handoff notices, agent messages), and rasa-webchat's page
    data: rasa-webchat sends ``{message, customData, session_id}``, which Rasa's channel drops;
    here ``customData`` reaches the NLU as ``metadata.customData`` (its ``language`` is a hint)."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def with_output(message: UserMessage) -> Any:
            message.output_channel = SocketIOOutput(self.sio, self.bot_message_evt)
            return await on_new_message(message)

        blueprint = super().blueprint(with_output)
        namespace = self.namespace or "/"
        rasa_handler = self.sio.handlers[namespace][self.user_message_evt]

        async def with_custom_data(sid: str, data: Any) -> Any:
            if isinstance(data, dict) and isinstance(data.get(CUSTOM_DATA), dict):
                metadata = data.get(self.metadata_key)
                metadata = dict(metadata) if isinstance(metadata, dict) else {}
                data = {**data, self.metadata_key: {**metadata, CUSTOM_DATA: data[CUSTOM_DATA]}}
            return await rasa_handler(sid, data)

        self.sio.on(self.user_message_evt, with_custom_data, namespace=self.namespace)
        return blueprint

    def get_output_channel(self) -> SocketIOOutput | None:
        """The output Rasa's HTTP API pushes through (agent replies, bot-back notices)."""
        return SocketIOOutput(self.sio, self.bot_message_evt) if self.sio else None
