"""Starting and stopping the local services lingodesk runs on: a Redis server and child
processes (Rasa, the action server), with clean shutdown."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


class ServiceError(RuntimeError):
    """A service could not be started."""


def redis_is_up(host: str, port: int, password: str | None = None) -> bool:
    """Whether a Redis server answers PING at host:port."""
    try:
        return bool(redis.Redis(host=host, port=port, password=password, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A real ``redis-server`` on loopback, owned by this process.

    ``persistent=True`` turns on the append-only file in ``directory`` so conversations and
    handoff tickets survive a restart (what `lingodesk run` uses); tests use throw-away ones.
    """

    def __init__(self, directory: Path, port: int | None = None, persistent: bool = False) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

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
        command = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not redis_is_up("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServiceError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


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
