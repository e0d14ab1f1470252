"""Starting, watching and stopping lingodesk's services: Redis, Rasa, the action server and the
agent API, each a child process.

One place for what `lingodesk run`, the load benchmark and the end-to-end tests all do: start
a service in a process group of its own (so stopping it stops whatever it started too), wait
until it answers, notice when one exits, and stop everything newest first. A service writes
its output to a log file of its own, or to the terminal (`lingodesk run`); one that exits or
does not answer in time raises :class:`ServiceError` saying which, with the end of its log.

    with Supervisor() as services:
        services.start(RedisServer(directory), watched=False)
        rasa = services.start(Service("rasa", rasa_command("run"), log=logs / "rasa.log"))
        rasa.wait_for_url("http://127.0.0.1:5005/", timeout=300)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
# What the action server and the agent API answer once they serve.
HEALTH_PATH = "/health"
POLL_SECONDS = 0.5
LOG_TAIL_LINES = 40

ServiceT = TypeVar("ServiceT", bound="Service")


class ServiceError(RuntimeError):
    """A service could not be started, or did not come up."""


def rasa_command(*args: str) -> list[str]:
    """Rasa's command line (``rasa ARGS``) from this Python's environment."""
    return [str(Path(sys.executable).with_name("rasa")), *args]


def action_server_command(port: int, actions: str | None = None) -> list[str]:
    """lingodesk's loopback action server (bot/action_server.py), serving ``actions`` (the
    repo's ``actions`` package by default)."""
    command = [sys.executable, "-m", "bot.action_server", "--port", str(port)]
    return [*command, "--actions", actions] if actions else command


def single_core_environment(**extra: str) -> dict[str, str]:
    """The environment for servers sharing a small machine with others (several servers side
    by side, a benchmark's client, tests): one thread per process, no OpenMP busy-waiting, no
    telemetry, and the repo importable from any working directory."""
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


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_is_up(host: str, port: int, password: str | None = None) -> bool:
    """Whether a Redis server answers PING at host:port."""
    try:
        return bool(redis.Redis(host=host, port=port, password=password, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def url_answers(url: str) -> bool:
    """Whether ``url`` answers a GET with a success status."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:  # refused, timed out, or an HTTP error status
        return False


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(process: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """SIGTERM a child's process group, then SIGKILL if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


class Service:
    """One server as a child process in its own process group.

    Its output goes to ``log`` (a file, rewritten at each start), else nowhere when ``quiet``,
    else to this process's terminal.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        quiet: bool = False,
        stop_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.log = log
        self.quiet = quiet
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Service:
        if self.log is None:
            output = subprocess.DEVNULL if self.quiet else None
            self.process = self._spawn(output)
        else:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("w") as output:  # the child keeps its own copy of the file
                self.process = self._spawn(output)
        return self

    def _spawn(self, output: object) -> subprocess.Popen:
        return subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=output,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,
        )

    def wait_until(
        self,
        ready: Callable[[], bool],
        timeout: float,
        waiting_for: str,
        interval: float = POLL_SECONDS,
    ) -> Service:
        """Wait until ``ready()``; ServiceError when the service exits first or ``timeout``
        seconds pass (``waiting_for`` says what it did not do: "answer at URL")."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise ServiceError(f"{self.name} exited with code {code}{self._output_hint()}")
            if ready():
                return self
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.name} did not {waiting_for} within {timeout:.0f} s"
                    + (f":\n{self.log_tail()}" if self.log else "")
                )
            time.sleep(interval)

    def wait_for_url(self, url: str, timeout: float) -> Service:
        """Wait until ``url`` answers with a success status."""
        return self.wait_until(lambda: url_answers(url), timeout, f"answer at {url}")

    def wait_for_port(self, port: int, timeout: float, host: str = "127.0.0.1") -> Service:
        """Wait until the service accepts TCP connections at host:port."""
        return self.wait_until(
            lambda: port_accepts(port, host), timeout, f"listen on {host}:{port}"
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the service logged (its log file's)."""
        return log_tail(self.log, lines) if self.log else "(output not logged)"

    def _output_hint(self) -> str:
        if self.log:
            return f":\n{self.log_tail()}"
        return "." if self.quiet else "; see its output above."

    def kill(self) -> None:
        """SIGKILL the service's process group, as a crash or the OOM killer would."""
        if self.running:
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        stop_process(self.process, self.stop_timeout)
        self.process = None

    def __enter__(self: ServiceT) -> ServiceT:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class RedisServer(Service):
    """A real ``redis-server`` on loopback; ``start`` returns once it answers PING.

    ``persistent=True`` turns on the append-only file in ``directory`` so conversations and
    handoff tickets survive a restart (what `lingodesk run` uses); tests use throw-away ones.
    """

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        persistent: bool = False,
        log: Path | None = None,
    ) -> None:
        super().__init__("redis-server", [], log=log, quiet=True)
        self.directory = Path(directory)
        self.port = port or free_port()
        self.persistent = persistent

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError(
                "redis-server is not installed: run scripts/setup (it installs Debian's "
                "redis-server), or point LINGODESK_REDIS_HOST/PORT at a running Redis."
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.command = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        super().start()
        try:
            self.wait_until(
                lambda: redis_is_up("127.0.0.1", self.port), timeout, "answer", interval=0.05
            )
        except ServiceError as error:
            self.stop()
            tail = f":\n{self.log_tail()}" if self.log else ""
            raise ServiceError(f"redis-server did not start on port {self.port}{tail}") from error
        return self


class Supervisor:
    """The services one program started: stopped together, newest first, and watched for one
    that exits (``wait_for_exit``)."""

    def __init__(self) -> None:
        self.services: list[Service] = []
        self._watched: list[Service] = []

    def start(self, service: ServiceT, *, watched: bool = True) -> ServiceT:
        """Start ``service`` and take charge of stopping it. ``watched=False``: its exit is no
        reason to stop the others (a Redis restart is ridden out by the stores)."""
        self.services.append(service)  # a service that fails half-way is still stopped
        if watched:
            self._watched.append(service)
        service.start()
        return service

    def wait_for_exit(self, interval: float = POLL_SECONDS) -> Service:
        """Block until a watched service exits; returns it."""
        while True:
            for service in self._watched:
                if not service.running:
                    return service
            time.sleep(interval)

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        self._watched.clear()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
