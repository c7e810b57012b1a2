"""Subscriptions over real websockets with the reference clients: graphql-ws (npm, run with the
machine's Node.js) and the Python gql client, against ``presta serve`` subprocesses; and a client
that stops reading, cut off with ``SUBSCRIBER_TOO_SLOW`` while the server's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from presta import clock
from presta.settings import settings
from presta.tx import atomic
from resolvers import account
from resolvers.events import record_event
from resolvers.housekeeping import purge_expired_events
from schema.http.live import decode_event_cursor, encode_event_cursor
from tests.factories.account import make_user
from tests.support.api_server import ApiServer, valid_email
from tests.support.live import UPDATE_PROFILE, logged_ids
from tests.support.polling import wait_for
from tests.support.redis_server import private_redis, redis_bus  # noqa: F401

pytestmark = pytest.mark.e2e

JS = Path(__file__).resolve().parent / "js"
VIEWER_UPDATED = "subscription($after: String) { viewerUpdated(after: $after) { cursor } }"


@pytest.fixture(scope="module")
def graphql_ws_client() -> Path:
    """The npm ``graphql-ws`` client, installed once into tests/js/node_modules (git-ignored)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("SKIPPED: Node.js and npm are needed for the graphql-ws interop test")
    if not (JS / "node_modules" / "graphql-ws").is_dir():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=JS, timeout=300
        )
        if installed.returncode != 0 and os.environ.get("PRESTA_TEST_REQUIRE_SERVERS") != "1":
            pytest.skip("SKIPPED: npm could not install graphql-ws (offline?)")
        assert installed.returncode == 0, "npm ci failed in tests/js"
    return JS / "subscribe.mjs"


@pytest.fixture
def server() -> Iterator[ApiServer]:
    api = ApiServer("memory://").start()
    yield api
    api.stop()


async def _node(script: Path, server: ApiServer, token: str, after: str | None, count: int):
    return await asyncio.create_subprocess_exec(
        "node", str(script), server.ws, token, VIEWER_UPDATED, json.dumps({"after": after}),
        str(count), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _lines(proc: Any) -> list[dict[str, Any]]:
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, out
    return [json.loads(line) for line in out.decode().splitlines()]


async def _rename(server: ApiServer, token: str, count: int) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
        for n in range(count):
            response = await client.post(
                server.http, json={"query": UPDATE_PROFILE, "variables": {"name": f"JS {n}"}}
            )
            assert response.json()["data"]["updateProfile"]["userErrors"] == []


def _cursors(lines: list[dict[str, Any]]) -> list[int]:
    return [
        decode_event_cursor(line["next"]["data"]["viewerUpdated"]["cursor"])  # type: ignore[misc]
        for line in lines
        if "next" in line and not line["next"].get("errors")
    ]


async def test_the_reference_js_client_follows_live_and_resumes_from_its_cursor(
    graphql_ws_client, server
):
    user = await make_user(email=valid_email())
    token = await server.token(user.email)
    live = await _node(graphql_ws_client, server, token, None, 3)
    await asyncio.sleep(1.5)  # node starts, connects and subscribes
    await _rename(server, token, 3)
    first = _cursors(await _lines(live))
    assert first == (await logged_ids(user.id))

    await _rename(server, token, 2)  # while no client listens
    resumed = _cursors(
        await _lines(
            await _node(graphql_ws_client, server, token, encode_event_cursor(first[0]), 4)
        )
    )
    assert first[:1] + resumed == await logged_ids(user.id)


async def test_the_reference_js_client_gets_cursor_expired_as_a_typed_error(
    graphql_ws_client, server
):
    user = await make_user(email=valid_email())
    token = await server.token(user.email)
    await _rename(server, token, 3)
    stale = (await logged_ids(user.id))[0]
    clock.advance(timedelta(days=settings().event_retention_days + 1))
    await purge_expired_events()

    lines = await _lines(
        await _node(graphql_ws_client, server, token, encode_event_cursor(stale), 1)
    )
    errors = next(line["next"]["errors"] for line in lines if "next" in line)
    assert errors[0]["extensions"]["code"] == "CURSOR_EXPIRED"
    assert {"complete": True} in lines


async def test_the_python_gql_client_gets_cursor_expired_as_a_typed_error(server):
    from gql import Client, GraphQLRequest
    from gql.transport.exceptions import TransportQueryError
    from gql.transport.websockets import WebsocketsTransport

    user = await make_user(email=valid_email())
    token = await server.token(user.email)
    await _rename(server, token, 3)
    stale = (await logged_ids(user.id))[0]
    clock.advance(timedelta(days=settings().event_retention_days + 1))
    await purge_expired_events()

    transport = WebsocketsTransport(
        url=server.ws,
        init_payload={"authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        request = GraphQLRequest(
            VIEWER_UPDATED, variable_values={"after": encode_event_cursor(stale)}
        )
        with pytest.raises(TransportQueryError) as raised:
            async for _ in session.subscribe(request):
                pass
    assert raised.value.errors[0]["extensions"]["code"] == "CURSOR_EXPIRED"  # type: ignore[index]


def _send_queue(server_port: int, client_port: int) -> int:
    """Bytes the server's socket to this client holds unsent or unacknowledged."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == server_port and int(remote, 16) == client_port:
            return int(fields[4].split(":")[0], 16)
    return 0


async def _until_sends_block(server_port: int, client_port: int) -> None:
    """Wait until the server's send queue to the client is full and stays so for 1 s."""
    stable, last = 0, -1
    for _ in range(240):
        size = _send_queue(server_port, client_port)
        stable = stable + 1 if size == last and size > 0 else 0
        if stable >= 4:
            return
        last = size
        await asyncio.sleep(0.25)
    raise AssertionError("the server never blocked on the stalled client")


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_a_client_that_stops_reading_is_cut_off_with_a_code_and_server_memory_stays_bounded(
    redis_bus,  # noqa: F811
):
    from websockets.asyncio.client import connect

    user = await make_user(email=valid_email(), full_name="x" * 190)
    server = ApiServer(
        redis_bus.url, PRESTA_LIVE_QUEUE_SIZE="64", PRESTA_LIVE_STALL_SECONDS="0.5"
    ).start()
    try:
        token = await server.token(user.email)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        # ~3 KiB per event, so that 4,000 of them overflow the kernel's socket buffers too.
        copies = " ".join(f"u{n}: user {{ fullName }}" for n in range(14))
        query = f"subscription {{ viewerUpdated {{ cursor {copies} }} }}"
        async with connect(
            server.ws, sock=sock, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_queue=1, compression=None,
        ) as ws:  # fmt: skip
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            await asyncio.sleep(1)
            rss_before = server.rss_kib()

            async def produce(count: int) -> None:
                async with atomic() as tx:
                    for _ in range(count):
                        await record_event(
                            tx, topic=account.USER_UPDATED, marketplace_id=None,
                            object_type="User", object_id=user.id, audience=[f"user:{user.id}"],
                        )  # fmt: skip

            # The client reads nothing from now on. Events come until the server's sends block
            # (socket buffers full), then more come while it is blocked: its queue overflows.
            for _ in range(20):
                await produce(200)
            client_port = sock.getsockname()[1]
            await _until_sends_block(server.port, client_port)
            await produce(200)
            async with httpx.AsyncClient() as client:
                metrics_url = f"http://127.0.0.1:{server.port}/metrics"

                async def cut_off() -> str | None:
                    text = (await client.get(metrics_url)).text
                    return text if _metric(text, "presta_live_overflows_total") >= 1 else None

                text = await wait_for(cut_off, within=20)
            assert _metric(text, "presta_live_queued_envelopes") <= 64
            rss_growth = server.rss_kib() - rss_before
            assert rss_growth < 20 * 1024, f"server grew by {rss_growth} KiB"

            # Now the client reads: what was buffered, then the documented code.
            received: list[int] = []
            code = None
            while code is None:
                message = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if message["type"] == "next" and message["payload"].get("errors"):
                    code = message["payload"]["errors"][0]["extensions"]["code"]
                elif message["type"] == "next":
                    cursor = message["payload"]["data"]["viewerUpdated"]["cursor"]
                    received.append(decode_event_cursor(cursor))  # type: ignore[arg-type]
            assert code == "SUBSCRIBER_TOO_SLOW"
            queued = _metric(text, "presta_live_queued_envelopes")
            print(
                f"\n[live] slow client: {len(received)} of 4200 events sent before the cut, "
                f"server RSS +{rss_growth} KiB, {queued:.0f} envelopes queued"
            )
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "complete"
            logged = await logged_ids(user.id)
            assert received == logged[: len(received)]
            assert len(received) < len(logged)

            # It resumes from the last cursor it received and gets exactly the rest.
            after = encode_event_cursor(received[-1])
            await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {
                "query": VIEWER_UPDATED, "variables": {"after": after}}}))  # fmt: skip
            while len(received) < len(logged):
                message = json.loads(await asyncio.wait_for(ws.recv(), 20))
                assert message["type"] == "next", message
                cursor = message["payload"]["data"]["viewerUpdated"]["cursor"]
                received.append(decode_event_cursor(cursor))  # type: ignore[arg-type]
            assert received == logged
    finally:
        server.stop()
