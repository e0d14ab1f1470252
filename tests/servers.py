"""Real servers for end-to-end tests: Redis, the rasa-sdk action server and Rasa itself.

End-to-end tests should meet what a customer meets, so nothing here is mocked: `rasa train`
builds a model for a throw-away project directory, `rasa run actions` and
`rasa run --enable-api` serve it, and conversations live in a real ``redis-server`` on a free
loopback port (the repo's ``bot.stores`` read ``LINGODESK_REDIS_PORT``). Usage::

    project = prepare_project(tmp_dir, config=..., domain=..., data=[...])
    # or the repo's own assistant with a fast pipeline: prepare_shipped_assistant(tmp_dir)
    model = train(project, cache_dir=pytestconfig.cache.mkdir("lingodesk-models"))
    with RasaStack(project) as stack:
        requests.post(f"{stack.url}/webhooks/rest/webhook", ...)

Every process logs to ``<project>/logs/``; a service that fails to come up raises
``ServiceError`` with the tail of its log, so a broken test run says why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.services import RedisServer, ServiceError, free_port, stop_process

REPO_ROOT = Path(__file__).resolve().parent.parent
RASA = str(Path(sys.executable).with_name("rasa"))
FAST_CONFIG = Path(__file__).resolve().parent / "fast_config.yml"
LANGUAGE_ID_MODEL = REPO_ROOT / "models" / "lid.176.ftz"


def service_environment(**extra: str) -> dict[str, str]:
    """The environment for Rasa's processes: quiet on 2 shared cores, repo importable."""
    env = dict(os.environ)
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        OMP_NUM_THREADS="1",
        OMP_WAIT_POLICY="PASSIVE",
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def prepare_project(
    directory: Path,
    *,
    config: Path,
    domain: Path,
    data: Iterable[Path],
    credentials: Path = REPO_ROOT / "credentials.yml",
    endpoints: Path = REPO_ROOT / "endpoints.yml",
    extra_files: Iterable[Path] = (),
) -> Path:
    """Copy a Rasa project's files into ``directory`` (data files and folders go under data/).

    ``extra_files`` (an actions module, assets) are copied next to the project files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(config, directory / "config.yml")
    shutil.copy(domain, directory / "domain.yml")
    shutil.copy(credentials, directory / "credentials.yml")
    shutil.copy(endpoints, directory / "endpoints.yml")
    data_dir = directory / "data"
    data_dir.mkdir(exist_ok=True)
    for source in data:
        if source.is_dir():
            shutil.copytree(source, data_dir / source.name, dirs_exist_ok=True)
        else:
            shutil.copy(source, data_dir / source.name)
    for source in extra_files:
        shutil.copy(source, directory / source.name)
    return directory


def prepare_shipped_assistant(directory: Path, config: Path = FAST_CONFIG) -> Path:
    """The repo's assistant in ``directory``: domain.yml, data/ (not the held-out data/test),
    credentials.yml and endpoints.yml, trained with ``config`` (fast by default). Its actions
    are the repo's ``actions`` package, `RasaStack`'s default. The language-ID model the
    set-up built is linked in, where config.yml's relative ``models/lid.176.ftz`` finds it."""
    data = [
        path
        for path in sorted((REPO_ROOT / "data").iterdir())
        if path.name != "test" and (path.is_dir() or path.suffix in (".yml", ".yaml"))
    ]
    project = prepare_project(directory, config=config, domain=REPO_ROOT / "domain.yml", data=data)
    models = project / "models"
    models.mkdir(exist_ok=True)
    if LANGUAGE_ID_MODEL.is_file() and not (models / LANGUAGE_ID_MODEL.name).exists():
        (models / LANGUAGE_ID_MODEL.name).symlink_to(LANGUAGE_ID_MODEL)
    return project


def project_fingerprint(project: Path) -> str:
    """A hash of everything `rasa train` reads, so a cached model is reused only when valid."""
    digest = hashlib.sha256(version("rasa").encode())  # another Rasa cannot load the model
    files = [project / "config.yml", project / "domain.yml", *sorted((project / "data").rglob("*"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(project)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def train(project: Path, cache_dir: Path | None = None, timeout: float = 900) -> Path:
    """Train ``project`` into ``project/models/model.tar.gz``, reusing a cached model when the
    project's files are unchanged (`rasa train` takes a minute or more on two shared cores)."""
    target = project / "models" / "model.tar.gz"
    target.parent.mkdir(exist_ok=True)
    cached = cache_dir / f"{project_fingerprint(project)}.tar.gz" if cache_dir else None
    if cached is not None and cached.is_file():
        shutil.copy(cached, target)
        return target
    log = project / "logs" / "train.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as out:
        code = subprocess.call(
            [RASA, "train", "--out", "models", "--fixed-model-name", "model"],
            cwd=project,
            env=service_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    if code != 0 or not target.is_file():
        raise ServiceError(f"rasa train failed (exit {code}):\n{_tail(log)}")
    if cached is not None:
        shutil.copy(target, cached)
    return target


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_json(url: str, data: Any = None, timeout: float = 10) -> Any:
    """GET (or POST ``data`` as JSON to) ``url`` and decode the JSON answer."""
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


class RasaStack:
    """Redis + ``rasa run actions`` + ``rasa run --enable-api`` for one trained project.

    ``actions_module`` is what ``rasa run actions --actions`` imports: the repo's ``actions``
    package by default, or a module inside the project directory (it is on PYTHONPATH).
    """

    def __init__(
        self,
        project: Path,
        *,
        actions_module: str = "actions",
        cors: str = "*",
        startup_timeout: float = 300,
        env: dict[str, str] | None = None,
    ) -> None:
        self.project = Path(project)
        self.actions_module = actions_module
        self.cors = cors
        self.startup_timeout = startup_timeout
        self.extra_env = env or {}
        self.redis = RedisServer(self.project / "redis")
        self.port = free_port()
        self.actions_port = free_port()
        self._processes: list[subprocess.Popen] = []
        self._logs: list[TextIO] = []

    @property
    def url(self) -> str:
        """Rasa's HTTP server (REST channel, socket.io, HTTP API)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RasaStack:
        try:
            self.redis.start()
            self._write_endpoints()
            env = service_environment(
                LINGODESK_REDIS_HOST="127.0.0.1",
                LINGODESK_REDIS_PORT=str(self.redis.port),
                PYTHONPATH=os.pathsep.join([str(self.project), str(REPO_ROOT)]),
                **self.extra_env,
            )
            actions = self._spawn(
                "actions",
                [RASA, "run", "actions", "--actions", self.actions_module,
                 "--port", str(self.actions_port)],
                env,
            )  # fmt: skip
            rasa = self._spawn(
                "rasa",
                [RASA, "run", "--enable-api", "--cors", self.cors, "--interface", "127.0.0.1",
                 "--port", str(self.port), "--model", "models", "--credentials",
                 "credentials.yml", "--endpoints", "endpoints.yml"],
                env,
            )  # fmt: skip
            self._wait(f"http://127.0.0.1:{self.actions_port}/health", actions, "actions")
            self._wait(f"{self.url}/status", rasa, "rasa")
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

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log_dir = self.project / "logs"
        log_dir.mkdir(exist_ok=True)
        log = (log_dir / f"{name}.log").open("w")
        self._logs.append(log)
        process = subprocess.Popen(
            command,
            cwd=self.project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._processes.append(process)
        return process

    def _wait(self, url: str, process: subprocess.Popen, name: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceError(
                    f"{name} exited with code {process.returncode}:\n{self.log_tail(name)}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.5)
        raise ServiceError(f"{name} did not answer at {url}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last lines a service logged (``rasa``, ``actions``, ``train``)."""
        return _tail(self.project / "logs" / f"{name}.log", lines)

    def tracker(self, sender: str) -> dict[str, Any]:
        """The conversation as Rasa stores it (HTTP API)."""
        return http_json(f"{self.url}/conversations/{sender}/tracker")

    def stop(self) -> None:
        for process in reversed(self._processes):
            stop_process(process)
        self._processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        self.redis.stop()

    def __enter__(self) -> RasaStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
