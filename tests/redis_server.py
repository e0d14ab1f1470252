"""A real Redis server for the tests (no fakes): one per test session, on a free loopback port,
its data in a temp dir with the append-only file on, so a test can stop and restart it and
find its tickets again.

Use it from a test module or conftest with ``pytest_plugins = ["tests.redis_server"]``:
``redis_server`` is the running `bot.supervisor.RedisServer`, ``redis_url`` a freshly flushed
database on it, ``flaky_link`` a TCP proxy in front of it that can lose a reply, the way a
connection dies after Redis ran a command but before the client heard back.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Iterator

import pytest
import redis

from bot.supervisor import RedisServer

HANDOFF_DB = 2


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run scripts/setup (it installs Debian's)")
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=True).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """An empty handoff database on the session's server (started again if a test stopped it)."""
    if redis_server.process is None:
        redis_server.start()
    url = f"{redis_server.url}/{HANDOFF_DB}"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


@pytest.fixture
def flaky_link(redis_server: RedisServer) -> Iterator[FlakyLink]:
    """A connection to the session's server that can lose a reply (see `FlakyLink`)."""
    link = FlakyLink(redis_server.port)
    yield link
    link.close()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the loop Rasa, rasa-sdk and redis.asyncio use."""
    return "asyncio"


class FlakyLink:
    """A loopback TCP proxy to a Redis server that can swallow the server's next reply."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._drop_next_reply = threading.Event()
        self._drop_reply_to: bytes | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db: int = HANDOFF_DB) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def drop_next_reply(self) -> None:
        """Let the next command through but cut the connection instead of answering it."""
        self._drop_next_reply.set()

    def drop_reply_to(self, command: bytes) -> None:
        """Let commands through, and cut the connection instead of answering the next one
        that contains ``command`` (e.g. ``b"EVALSHA"``: a script ran, its caller never knew)."""
        self._drop_reply_to = command

    def close(self) -> None:
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if not replies and self._drop_reply_to and self._drop_reply_to in data:
                    self._drop_reply_to = None
                    self._drop_next_reply.set()
                if replies and self._drop_next_reply.is_set():
                    self._drop_next_reply.clear()
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
