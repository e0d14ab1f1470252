"""Real servers for end-to-end tests: Redis, the rasa-sdk action server and Rasa itself.

End-to-end tests should meet what a customer meets, so nothing here is mocked: `rasa train`
builds a model for a throw-away project directory, `rasa run actions` and
`rasa run --enable-api` serve it, and conversations live in a real ``redis-server`` on a free
loopback port. The serving is lingodesk's own (bot/stack.py over bot/supervisor.py), the
training and its model cache the load benchmark's (benchmarks/assistant.py); this module adds
what only tests want: reading a conversation back. Usage::

    project = prepare_project(tmp_dir, config=..., domain=..., data=[...])  # benchmarks.assistant
    # or the repo's own assistant with a fast pipeline: prepare_shipped_assistant(tmp_dir)
    model = train(project, cache_dir=pytestconfig.cache.mkdir("lingodesk-models"))
    with RasaStack(project) as stack:
        requests.post(f"{stack.url}/webhooks/rest/webhook", ...)

Every process logs to ``<project>/logs/``; a service that fails to come up raises
``ServiceError`` with the tail of its log, so a broken test run says why.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.assistant import train_cached as train
from bot.stack import ProjectStack
from bot.supervisor import single_core_environment

__all__ = ["REPO_ROOT", "RasaStack", "http_json", "train"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def http_json(url: str, data: Any = None, timeout: float = 10) -> Any:
    """GET (or POST ``data`` as JSON to) ``url`` and decode the JSON answer."""
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


class RasaStack(ProjectStack):
    """:class:`bot.stack.ProjectStack` as the tests run it: quiet on two shared cores (one
    thread per process), ``env`` added to the services' environment, and the conversation
    readable through Rasa's HTTP API."""

    def __init__(self, project: Path, *, env: dict[str, str] | None = None, **options: Any) -> None:
        super().__init__(project, env=single_core_environment(**(env or {})), **options)

    def tracker(self, sender: str) -> dict[str, Any]:
        """The conversation as Rasa stores it (HTTP API)."""
        return http_json(f"{self.url}/conversations/{sender}/tracker")
