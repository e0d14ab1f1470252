"""lingodesk deployed for operations tests (load, faults, security): the shipped assistant
served the way `lingodesk run` serves it, parts of it killed and restarted, or `lingodesk run`
itself. The session fixtures over these are in tests/operations.py."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from benchmarks.assistant import prepare_shipped_assistant
from bot.supervisor import Service, action_server_command, free_port, single_core_environment
from tests.servers import RasaStack

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

    def __init__(self, project: Path, **options: object) -> None:
        super().__init__(project, persistent_redis=True, **options)  # type: ignore[arg-type]
        self.restarted_actions: Service | None = None

    def kill_redis(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a crash would."""
        assert self.redis.process is not None
        self.redis.kill()

    def kill_action_server(self) -> None:
        service = self.restarted_actions or self.actions
        assert service is not None
        service.kill()

    def start_action_server(self) -> None:
        """``python -m bot.action_server`` on the action port Rasa calls."""
        command = action_server_command(self.actions_port, actions=self.actions_module)
        self.restarted_actions = self.services.start(self.service("actions-restarted", command))
        self.restarted_actions.wait_for_url(self.actions_health_url, self.startup_timeout)


class LingodeskRun(Service):
    """``lingodesk run --no-train`` on free ports, its output in ``<project>/logs/run.log``."""

    def __init__(self, project: Path, **env: str) -> None:
        self.project = project
        self.port, self.actions_port, self.web_port = free_port(), free_port(), free_port()
        self.redis_port = free_port()
        super().__init__(
            "lingodesk run",
            [LINGODESK, "--project", str(project), "run", "--no-train",
             "--port", str(self.port), "--actions-port", str(self.actions_port),
             "--web-port", str(self.web_port)],
            env=single_core_environment(LINGODESK_REDIS_PORT=str(self.redis_port), **env),
            log=project / "logs" / "run.log",
            stop_timeout=60,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LingodeskRun:
        super().start()
        return self

    def output(self) -> str:
        assert self.log is not None
        return self.log.read_text(errors="replace")

    def wait_until_up(self, timeout: float = 300) -> None:
        self.wait_until(lambda: "lingodesk is up" in self.output(), timeout, "come up")

    def wait_for_exit(self, timeout: float = 300) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)


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
