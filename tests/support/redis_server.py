"""A private redis-server for the tests that stop and start Redis, and fixtures that use it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from presta import events
from presta.settings import settings
from tests.support.processes import free_port, stop


def _wait_port(port: int, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


class RedisServer:
    """A private redis-server; ``stop``/``start`` simulate an outage on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis_bus(private_redis: RedisServer, monkeypatch) -> AsyncIterator[RedisServer]:
    """This test process publishes and listens through the private Redis."""
    await events.disconnect()
    monkeypatch.setattr(settings(), "broadcast_url", private_redis.url)
    monkeypatch.setattr(settings(), "live_ping_seconds", 1.0)
    await events.connect()
    yield private_redis
    await events.disconnect()
