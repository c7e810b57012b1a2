"""The ASGI app around the schema: probes, metrics, request ids, masking, websockets.

Websocket tests run the real app in a real uvicorn server, in this test's event loop (so it
shares the test database), and talk to it with the `websockets` client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from presta import events
from presta.security import make_access_token
from presta.settings import get_settings
from resolvers import marketplace as marketplace_use_cases
from tests.factories.account import make_marketplace, make_staff, make_user
from tests.support.graphql import http_client, serving
from tests.support.processes import free_port

WS_PROTOCOL = Subprotocol("graphql-transport-ws")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A real uvicorn serving the app on a free loopback port; yields its host and port."""
    async with serving() as port:
        await events.connect()
        yield f"127.0.0.1:{port}"


async def _ws(server: str, *, init: dict[str, Any] | None = None, **kw: Any) -> Any:
    socket_ = await websockets.connect(
        f"ws://{server}/graphql", subprotocols=[WS_PROTOCOL], open_timeout=5, **kw
    )
    await socket_.send(json.dumps({"type": "connection_init", "payload": init or {}}))
    return socket_


async def _next(socket_: Any, within: float = 5.0) -> Any:
    return json.loads(await asyncio.wait_for(socket_.recv(), timeout=within))


async def _first_message(server: str, **kw: Any) -> Any:
    """Open a websocket, send connection_init and read the answer (or the refusal)."""
    kw.setdefault("subprotocols", [WS_PROTOCOL])
    socket_ = await websockets.connect(f"ws://{server}/graphql", open_timeout=5, **kw)
    try:
        await socket_.send(json.dumps({"type": "connection_init", "payload": {}}))
        return await _next(socket_)
    finally:
        await socket_.close()


async def _metric(name: str) -> float:
    async with http_client() as client:
        text = (await client.get("/metrics")).text
    match = re.search(rf"^{name} (\S+)$", text, flags=re.MULTILINE)
    assert match, f"{name} not exposed"
    return float(match.group(1))


async def test_healthz_answers_while_the_process_is_up():
    async with http_client() as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


async def test_graphiql_is_served_to_browsers_on_get():
    async with http_client() as client:
        response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_readyz_is_ready_with_the_database():
    async with http_client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


async def test_readyz_reports_redis():
    async with http_client() as client:
        response = await client.get("/readyz")
    assert response.json() == {"ready": True, "checks": {"database": "ok", "redis": "ok"}}


async def test_readyz_is_not_ready_when_redis_does_not_answer(monkeypatch):
    closed_port = free_port()
    monkeypatch.setenv("PRESTA_REDIS_URL", f"redis://127.0.0.1:{closed_port}/0")
    get_settings.cache_clear()
    try:
        async with http_client() as client:
            response = await client.get("/readyz")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


async def test_metrics_count_requests_and_their_latency():
    async with http_client() as client:
        await client.post("/graphql", json={"query": "{ viewer { isPlatformAdmin } }"})
        text = (await client.get("/metrics")).text
    assert re.search(
        r'^presta_http_requests_total\{method="POST",path="/graphql",status="200"\} [1-9]',
        text,
        flags=re.MULTILINE,
    )
    assert re.search(
        r'^presta_http_request_seconds_bucket\{le="0.005",path="/graphql"\}', text, re.MULTILINE
    )
    assert re.search(r"^presta_http_request_seconds_count\{path=\"/graphql\"\} [1-9]", text, re.M)
    assert "presta_open_websockets " in text
    assert "presta_active_subscriptions " in text


async def test_every_response_carries_a_request_id_and_a_sane_incoming_one_is_kept():
    async with http_client() as client:
        fresh = await client.get("/healthz")
        kept = await client.get("/healthz", headers={"X-Request-Id": "abc123"})
        hostile = await client.get("/healthz", headers={"X-Request-Id": "a b\r\nX-Evil: 1"})
    assert re.fullmatch(r"[0-9a-f]{16}", fresh.headers["x-request-id"])
    assert kept.headers["x-request-id"] == "abc123"
    assert re.fullmatch(r"[0-9a-f]{16}", hostile.headers["x-request-id"])


async def test_an_unexpected_error_is_masked_with_the_request_id_and_logged(monkeypatch, caplog):
    async def broken(actor, **kw):
        raise RuntimeError("connection string postgres://secret@db leaked")

    # Fault injection: the use case behind `marketplaces` fails unexpectedly.
    monkeypatch.setattr(marketplace_use_cases, "list_marketplaces", broken)
    caplog.set_level(logging.ERROR, logger="presta.graphql")
    async with http_client() as client:
        response = await client.post(
            "/graphql", json={"query": "{ marketplaces { nodes { name } } }"}
        )
    rid = response.headers["x-request-id"]
    error = response.json()["errors"][0]
    assert error["message"] == f"Unexpected error (request id {rid})."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": rid}
    assert "secret" not in response.text
    logged = [r for r in caplog.records if r.name == "presta.graphql"]
    assert logged
    assert logged[0].request_id == rid
    assert "secret@db" in str(logged[0].exc_info[1])


async def test_the_legacy_graphql_ws_protocol_is_refused(server):
    with pytest.raises((InvalidStatus, ConnectionClosed)) as refused:
        await _first_message(server, subprotocols=[Subprotocol("graphql-ws")])
    error = refused.value
    if isinstance(error, InvalidStatus):
        assert error.response.status_code == 403
    else:
        assert isinstance(error, ConnectionClosed)
        assert error.rcvd is not None
        assert error.rcvd.code == 4406


async def test_a_websocket_from_a_foreign_origin_is_refused(server):
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        await _first_message(server, origin="https://evil.example")
    # The same handshake from an allowed origin is accepted.
    allowed = get_settings().allowed_origins[0]
    socket_ = await _ws(server, origin=allowed)
    assert (await _next(socket_))["type"] == "connection_ack"
    await socket_.close()


async def test_a_websocket_with_a_bad_token_is_closed_with_4403(server):
    socket_ = await _ws(server, init={"authorization": "Bearer forged.token.here"})
    with pytest.raises(ConnectionClosed) as closed:
        await _next(socket_)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_a_subscription_without_a_token_gets_unauthenticated(server):
    socket_ = await _ws(server)
    assert (await _next(socket_))["type"] == "connection_ack"
    await socket_.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "subscription { viewerUpdated { user { fullName } } }"},
            }
        )
    )
    message = await _next(socket_)
    # The refusal comes from the subscription's source stream: a result with errors only.
    assert message["type"] == "next"
    assert message["payload"]["data"] is None
    assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["UNAUTHENTICATED"]
    assert (await _next(socket_))["type"] == "complete"
    await socket_.close()


async def test_a_subscription_receives_live_events_and_is_counted_while_it_runs(server):
    user = await make_user(email="live@example.com")
    token, _ = make_access_token(user.id)
    before_ws = await _metric("presta_open_websockets")
    before_subs = await _metric("presta_active_subscriptions")
    socket_ = await _ws(server, init={"authorization": f"Bearer {token}"})
    assert (await _next(socket_))["type"] == "connection_ack"
    await socket_.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "subscription { viewerUpdated { user { fullName } } }"},
            }
        )
    )
    # The subscription is listening once the gauge moves; then the change is pushed.
    for _ in range(200):
        if await _metric("presta_active_subscriptions") == before_subs + 1:
            break
        await asyncio.sleep(0.01)
    assert await _metric("presta_open_websockets") == before_ws + 1
    assert await _metric("presta_active_subscriptions") == before_subs + 1
    await asyncio.sleep(0.1)
    async with http_client() as client:
        await client.post(
            "/graphql",
            json={"query": 'mutation { updateProfile(input: {fullName: "Live"}) { user { id } } }'},
            headers={"Authorization": f"Bearer {token}"},
        )
    message = await _next(socket_)
    assert message["type"] == "next"
    assert message["payload"]["data"]["viewerUpdated"]["user"]["fullName"] == "Live"
    await socket_.close()
    for _ in range(200):
        if (
            await _metric("presta_open_websockets"),
            await _metric("presta_active_subscriptions"),
        ) == (before_ws, before_subs):
            break
        await asyncio.sleep(0.01)
    assert await _metric("presta_open_websockets") == before_ws
    assert await _metric("presta_active_subscriptions") == before_subs


async def test_staff_websocket_acts_in_the_marketplace_named_in_connection_init(server):
    market = await make_marketplace(slug="ws-market")
    staff = await make_staff(market)
    token, _ = make_access_token(staff.id)
    socket_ = await _ws(
        server, init={"authorization": f"Bearer {token}", "marketplace": "ws-market"}
    )
    assert (await _next(socket_))["type"] == "connection_ack"
    await socket_.send(
        json.dumps(
            {"id": "q", "type": "subscribe", "payload": {"query": "{ marketplace { slug } }"}}
        )
    )
    message = await _next(socket_)
    assert message["payload"]["data"] == {"marketplace": {"slug": "ws-market"}}
    await socket_.close()
