"""Websocket misuse: each is refused cleanly with a close code or a coded error, never a crash
(close 1011), and the server goes on serving the next connection.

The app runs in a real uvicorn in this test's event loop, with the frame limit `presta serve`
sets, and is driven by the `websockets` client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from presta import events
from presta.security import make_access_token
from presta.settings import get_settings
from schema.http.errors import ERROR_CODES
from tests.factories.account import make_user
from tests.support.graphql import serving

PROTOCOL = Subprotocol("graphql-transport-ws")
WS_MAX_FRAME_BYTES = 256 * 1024  # as `presta serve` sets (uvicorn's ws_max_size)
WATCH = "subscription { viewerUpdated { user { fullName } } }"


@pytest.fixture
async def server(monkeypatch) -> AsyncIterator[str]:
    monkeypatch.setenv("PRESTA_MAX_SUBSCRIPTIONS_PER_CONNECTION", "3")
    monkeypatch.setenv("PRESTA_WS_INIT_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    try:
        async with serving(ws_max_size=WS_MAX_FRAME_BYTES) as port:
            await events.connect()
            yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def _open(url: str) -> Any:
    return await websockets.connect(url, subprotocols=[PROTOCOL], open_timeout=5)


async def _send(ws: Any, message: Any) -> None:
    await ws.send(message if isinstance(message, str | bytes) else json.dumps(message))


async def _next(ws: Any, within: float = 5.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout=within))


async def _closed_with(ws: Any, within: float = 5.0) -> int:
    """The close code the server sent (after any frames still in flight)."""
    with pytest.raises(ConnectionClosed) as closed:
        await _drain(ws, within)
    assert closed.value.rcvd is not None, "the server did not close the connection"
    return closed.value.rcvd.code


async def _drain(ws: Any, within: float) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), timeout=within)


async def _ready(url: str, init: dict[str, Any] | None = None) -> Any:
    ws = await _open(url)
    await _send(ws, {"type": "connection_init", "payload": init or {}})
    assert (await _next(ws))["type"] == "connection_ack"
    return ws


async def _still_serves(url: str) -> None:
    ws = await _ready(url)
    await _send(ws, {"id": "h", "type": "subscribe", "payload": {"query": "{ __typename }"}})
    assert (await _next(ws))["payload"] == {"data": {"__typename": "Query"}}
    await ws.close()


def _subscribe(op_id: str, query: str = WATCH) -> dict[str, Any]:
    return {"id": op_id, "type": "subscribe", "payload": {"query": query}}


async def test_subscribing_without_connection_init_is_closed_with_4401(server):
    ws = await _open(server)
    await _send(ws, _subscribe("1"))
    assert await _closed_with(ws) == 4401
    await _still_serves(server)


async def test_a_connection_that_never_initialises_is_closed_with_4408(server):
    ws = await _open(server)
    assert await _closed_with(ws, within=5) == 4408
    await _still_serves(server)


async def test_a_subscribe_sent_right_behind_connection_init_waits_for_the_ack(server):
    ws = await _open(server)
    await _send(ws, {"type": "connection_init", "payload": {}})
    await _send(ws, {"id": "q", "type": "subscribe", "payload": {"query": "{ __typename }"}})
    assert (await _next(ws))["type"] == "connection_ack"
    assert (await _next(ws))["payload"] == {"data": {"__typename": "Query"}}
    await ws.close()


async def test_a_second_connection_init_is_closed_with_4429(server):
    ws = await _ready(server)
    await _send(ws, {"type": "connection_init", "payload": {}})
    assert await _closed_with(ws) == 4429
    await _still_serves(server)


async def test_a_duplicate_operation_id_is_closed_with_4409(server):
    user = await make_user()
    token, _ = make_access_token(user.id)
    ws = await _ready(server, {"authorization": f"Bearer {token}"})
    await _send(ws, _subscribe("same"))
    await _send(ws, _subscribe("same"))
    assert await _closed_with(ws) == 4409
    await _still_serves(server)


async def test_subscriptions_past_the_limit_get_a_coded_error_and_the_others_keep_running(server):
    user = await make_user()
    token, _ = make_access_token(user.id)
    ws = await _ready(server, {"authorization": f"Bearer {token}"})
    for n in range(3):
        await _send(ws, _subscribe(str(n)))
    await asyncio.sleep(0.2)
    await _send(ws, _subscribe("one-too-many"))
    refused = await _next(ws)
    assert refused["type"] == "error"
    assert refused["id"] == "one-too-many"
    assert [e["extensions"]["code"] for e in refused["payload"]] == ["TOO_MANY_SUBSCRIPTIONS"]
    # Completing one frees a place.
    await _send(ws, {"id": "0", "type": "complete"})
    await asyncio.sleep(0.1)
    await _send(ws, _subscribe("now-fits", "{ __typename }"))
    assert (await _next(ws))["payload"] == {"data": {"__typename": "Query"}}
    await ws.close()


async def test_a_frame_over_the_size_limit_closes_the_connection_with_1009(server):
    ws = await _ready(server)
    padding = "x" * (WS_MAX_FRAME_BYTES + 1)
    payload = {"query": "{ __typename }", "variables": {"p": padding}}
    await _send(ws, {"id": "big", "type": "subscribe", "payload": payload})
    assert await _closed_with(ws) == 1009
    await _still_serves(server)


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        b"\x00\x01binary",
        "[" * 100_000 + "]" * 100_000,  # nested past the parser's recursion limit
        "[1, 2]",
        '"connection_init"',
        "null",
        json.dumps({"type": 5}),
        json.dumps({"type": "no-such-type"}),
        json.dumps({"payload": {}}),
    ],
)
async def test_a_frame_that_is_not_a_protocol_message_is_closed_with_4400(server, frame):
    ws = await _ready(server)
    await _send(ws, frame)
    assert await _closed_with(ws) == 4400
    await _still_serves(server)


@pytest.mark.parametrize(
    "message",
    [
        {"id": "1", "type": "subscribe"},
        {"id": "1", "type": "subscribe", "payload": "{ __typename }"},
        {"id": "1", "type": "subscribe", "payload": {"query": 5}},
        {"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }", "variables": 5}},
        {"id": ["1"], "type": "subscribe", "payload": {"query": "{ __typename }"}},
        {"id": {"a": 1}, "type": "complete"},
        {"type": "subscribe", "payload": {"query": "{ __typename }"}},
        {"type": "connection_init", "payload": "not an object"},
    ],
)
async def test_a_malformed_subscribe_or_complete_is_closed_with_4400(server, message):
    ws = await _ready(server)
    await _send(ws, message)
    assert await _closed_with(ws) == 4400
    await _still_serves(server)


async def test_an_invalid_document_gets_coded_errors_and_the_connection_stays_open(server):
    ws = await _ready(server)
    await _send(ws, _subscribe("bad", "subscription { noSuchField }"))
    message = await _next(ws)
    assert message["type"] == "error"
    codes = {e["extensions"]["code"] for e in message["payload"]}
    assert codes <= ERROR_CODES
    assert codes == {"GRAPHQL_VALIDATION_FAILED"}
    await _send(ws, _subscribe("good", "{ __typename }"))
    assert (await _next(ws))["payload"] == {"data": {"__typename": "Query"}}
    await ws.close()
