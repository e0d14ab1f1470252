"""lingodesk deployed for operations tests (load, faults, security): the shipped assistant
served the way `lingodesk run` serves it, parts of it killed and restarted, or `lingodesk run`
itself. The session fixtures over these are in tests/operations.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.services import RedisServer, ServiceError, free_port, stop_process
from tests.servers import (
    REPO_ROOT,
    RasaStack,
    prepare_shipped_assistant,
    service_environment,
)

LINGODESK = str(Path(sys.executable).with_name("lingodesk"))
# /proc/net/tcp6 spellings of the two IPv6 addresses that matter here.
IPV6_NAMES = {"0" * 32: "::", "0" * 24 + "01000000": "::1"}


def shipped_project(directory: Path, model: Path) -> Path:
    """The repo's assistant in ``directory`` with ``model`` as its only trained model."""
    project = prepare_shipped_assistant(directory)
    shutil.copy(model, project / "models" / "model.tar.gz")
    return project


class OperatedStack(RasaStack):
    """A :class:`RasaStack` run the way `lingodesk run` runs it: Redis with its append-only
    file on (a restart finds every conversation again) and lingodesk's loopback action server,
    which a test can kill and start again."""

    def __init__(self, project: Path, **kwargs: object) -> None:
        super().__init__(project, **kwargs)  # type: ignore[arg-type]
        self.redis = RedisServer(self.project / "redis", persistent=True)
        self._action_server: subprocess.Popen | None = None

    def _environment(self) -> dict[str, str]:
        return service_environment(
            LINGODESK_REDIS_HOST="127.0.0.1",
            LINGODESK_REDIS_PORT=str(self.redis.port),
            PYTHONPATH=os.pathsep.join([str(self.project), str(REPO_ROOT)]),
            **self.extra_env,
        )

    def kill_redis(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a crash would."""
        assert self.redis.process is not None
        self.redis.process.kill()
        self.redis.process.wait()
        self.redis.process = None

    def kill_action_server(self) -> None:
        process = self._action_server or self._processes[0]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def start_action_server(self) -> None:
        """``python -m bot.action_server`` on the action port Rasa calls."""
        self._action_server = self._spawn(
            "actions-restarted",
            [sys.executable, "-m", "bot.action_server", "--port", str(self.actions_port),
             "--actions", self.actions_module],
            self._environment(),
        )  # fmt: skip
        self._wait(
            f"http://127.0.0.1:{self.actions_port}/health",
            self._action_server,
            "actions-restarted",
        )


class LingodeskRun:
    """``lingodesk run --no-train`` on free ports, its output in ``<project>/logs/run.log``."""

    def __init__(self, project: Path, **env: str) -> None:
        self.project = project
        self.port, self.actions_port, self.web_port = free_port(), free_port(), free_port()
        self.redis_port = free_port()
        self.env = service_environment(LINGODESK_REDIS_PORT=str(self.redis_port), **env)
        self.log = project / "logs" / "run.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LingodeskRun:
        self.log.parent.mkdir(exist_ok=True)
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [LINGODESK, "--project", str(self.project), "run", "--no-train",
                 "--port", str(self.port), "--actions-port", str(self.actions_port),
                 "--web-port", str(self.web_port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while "lingodesk is up" not in self.output():
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ServiceError(f"lingodesk run did not come up:\n{self.output()[-3000:]}")
            time.sleep(0.5)

    def wait_for_exit(self, timeout: float = 300) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        stop_process(self.process, timeout=60)

    def __enter__(self) -> LingodeskRun:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP server listens on at ``port`` (from /proc/net/tcp{,6})."""
    addresses: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if width == 8:  # IPv4, little-endian
                    addresses.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    addresses.add(IPV6_NAMES.get(address, f"ipv6:{address}"))
    return addresses
