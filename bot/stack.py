"""One trained Rasa project served on its own: Redis, an action server and Rasa with its HTTP
API, on free loopback ports, each logging to ``<project>/logs/<service>.log``.

A self-contained deployment to measure (the load benchmark runs several side by side) or to
test against; `lingodesk run` serves the repo itself on fixed ports instead. The project's
endpoints.yml is pointed at this stack's action server; its tracker and lock stores find this
stack's Redis through ``LINGODESK_REDIS_HOST``/``_PORT`` (bot/stores.py), unless endpoints.yml
names a port itself.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import yaml

from bot.sessions import SESSION_SECRET_ENV, SessionSigner
from bot.supervisor import (
    HEALTH_PATH,
    REPO_ROOT,
    RedisServer,
    Service,
    Supervisor,
    free_port,
    log_tail,
    rasa_command,
)


class ProjectStack:
    """Redis + ``rasa run actions`` + ``rasa run --enable-api`` for one trained project.

    ``actions_module`` is what ``rasa run actions --actions`` imports: the repo's ``actions``
    package by default, or a module inside the project directory (it is on PYTHONPATH).
    ``env`` is the environment the services start from (default: this process's).
    """

    def __init__(
        self,
        project: Path,
        *,
        actions_module: str = "actions",
        cors: str = "*",
        startup_timeout: float = 300,
        env: Mapping[str, str] | None = None,
        persistent_redis: bool = False,
    ) -> None:
        self.project = Path(project)
        self.actions_module = actions_module
        self.cors = cors
        self.startup_timeout = startup_timeout
        self.base_env = dict(env) if env is not None else dict(os.environ)
        # The REST channel's signing secret: the caller's, else one for this stack alone.
        self.session_secret = self.base_env.get(SESSION_SECRET_ENV) or secrets.token_urlsafe(48)
        self.logs = self.project / "logs"
        self.redis = RedisServer(
            self.project / "redis", persistent=persistent_redis, log=self.logs / "redis.log"
        )
        self.port = free_port()
        self.actions_port = free_port()
        self.services = Supervisor()
        self.actions: Service | None = None
        self.rasa: Service | None = None

    @property
    def url(self) -> str:
        """Rasa's HTTP server (REST channel, socket.io, HTTP API)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def actions_health_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}{HEALTH_PATH}"

    def environment(self) -> dict[str, str]:
        """The services' environment: this stack's Redis, the project and repo importable."""
        return {
            **self.base_env,
            "LINGODESK_REDIS_HOST": "127.0.0.1",
            "LINGODESK_REDIS_PORT": str(self.redis.port),
            SESSION_SECRET_ENV: self.session_secret,
            "PYTHONPATH": os.pathsep.join([str(self.project), str(REPO_ROOT)]),
        }

    def session(self, conversation_id: str | None = None) -> str:
        """A session token for this stack's REST channel (``sender``), signed as a shop's
        backend signs a logged-in customer's: for ``conversation_id``, else a new one."""
        return SessionSigner(self.session_secret.encode()).issue(conversation_id)

    def conversation_of(self, token: str) -> str:
        """The conversation a session token of this stack names (what Rasa's API calls it)."""
        return SessionSigner(self.session_secret.encode()).conversation_id(token)

    def service(self, name: str, command: list[str]) -> Service:
        """A service of this stack: run in the project directory, logged to logs/<name>.log."""
        return Service(
            name, command, cwd=self.project, env=self.environment(), log=self.logs / f"{name}.log"
        )

    def start(self) -> ProjectStack:
        try:
            self.services.start(self.redis, watched=False)
            self._write_endpoints()
            self.actions = self.services.start(
                self.service(
                    "actions",
                    rasa_command("run", "actions", "--actions", self.actions_module,
                                 "--port", str(self.actions_port)),
                )
            )  # fmt: skip
            self.rasa = self.services.start(
                self.service(
                    "rasa",
                    rasa_command("run", "--enable-api", "--cors", self.cors,
                                 "--interface", "127.0.0.1", "--port", str(self.port),
                                 "--model", "models", "--credentials", "credentials.yml",
                                 "--endpoints", "endpoints.yml"),
                )
            )  # fmt: skip
            self.actions.wait_for_url(self.actions_health_url, self.startup_timeout)
            self.rasa.wait_for_url(f"{self.url}/status", self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _write_endpoints(self) -> None:
        """Point the project's endpoints.yml at this stack's action server."""
        path = self.project / "endpoints.yml"
        endpoints = yaml.safe_load(path.read_text()) or {}
        endpoints["action_endpoint"] = {"url": f"http://127.0.0.1:{self.actions_port}/webhook"}
        path.write_text(yaml.safe_dump(endpoints, sort_keys=False))

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last lines a service logged (``rasa``, ``actions``, ``redis``, ``train``)."""
        return log_tail(self.logs / f"{name}.log", lines)

    def stop(self) -> None:
        self.services.stop()

    def __enter__(self) -> ProjectStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
