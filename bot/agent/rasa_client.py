"""The few calls of Rasa's HTTP API (``rasa run --enable-api``) the agents' side needs.

A conversation id reaches this module only after `handoff.ids` accepted it (a ticket read from
Redis is checked again by the queues), and it is still percent-quoted into each path, so no id
can name another route of Rasa's API. Rasa's answers stay in the server log: the agent sees
only the status.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import aiohttp

from handoff.ids import is_conversation_id
from handoff.tickets import AGENT_METADATA_KEY

logger = logging.getLogger(__name__)


class RasaError(Exception):
    """Rasa's HTTP API failed or is unreachable; the message is safe to show an agent."""


def conversation_path(conversation_id: str, *rest: str) -> str:
    """``/conversations/<quoted id>/<rest>``; a malformed id never becomes a path."""
    if not is_conversation_id(conversation_id):
        raise RasaError("the ticket's conversation id is malformed; nothing was sent to Rasa")
    return "/".join(("/conversations", quote(conversation_id, safe=""), *rest))


class RasaClient:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self.session = session
        self.url = url.rstrip("/")
        # Rasa's --auth-token is only accepted as a query parameter; it goes to loopback.
        self.params = {"token": token} if token else {}

    async def _call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        try:
            async with self.session.request(
                method, f"{self.url}{path}", json=body, params={**self.params, **params}
            ) as answer:
                if answer.status >= 400:
                    logger.warning(
                        "Rasa answered %s to %s: %s", answer.status, path, await answer.text()
                    )
                    raise RasaError(f"Rasa refused the request (status {answer.status})")
                return await answer.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            logger.warning("Rasa is unreachable at %s: %s", self.url, error)
            raise RasaError("Rasa is unreachable; try again shortly") from error

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        return await self._call("GET", conversation_path(conversation_id, "tracker"))

    async def push_text(self, conversation_id: str, text: str, metadata: dict[str, Any]) -> None:
        """Log an agent message in the conversation and send it down the customer's channel.

        The ``custom`` payload is what tells the chat widget the message is from an agent
        (``metadata`` is kept in the tracker but channels do not forward it)."""
        custom = {"lingodesk": {"kind": "agent_message", "agent": metadata.get(AGENT_METADATA_KEY)}}
        event = {"event": "bot", "text": text, "metadata": metadata, "data": {"custom": custom}}
        await self._call(
            "POST",
            conversation_path(conversation_id, "tracker", "events"),
            [event],
            output_channel="latest",
            execute_side_effects="true",
        )

    async def utter(self, conversation_id: str, response: str) -> None:
        """Run a domain response (chosen in the customer's language) in the conversation."""
        await self._call(
            "POST",
            conversation_path(conversation_id, "execute"),
            {"name": response},
            output_channel="latest",
        )

    async def hand_back(self, conversation_id: str) -> None:
        """Un-pause the bot. The final action_listen makes the customer's next message start a
        normal turn (without it, rules see the previous action and fall back)."""
        events = [
            {"event": "resume"},
            {"event": "slot", "name": "handed_off", "value": None},
            {"event": "slot", "name": "escalate", "value": None},
            {"event": "slot", "name": "handoff_ticket", "value": None},
            {"event": "action", "name": "action_listen"},
        ]
        await self._call("POST", conversation_path(conversation_id, "tracker", "events"), events)
