"""``presta serve`` websocket options: live messages go out uncompressed unless asked for."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.support.api_server import ROOT, ApiServer

pytestmark = pytest.mark.e2e

PROTOCOL = Subprotocol("graphql-transport-ws")


class _Server(ApiServer):
    def __init__(self, *args: str) -> None:
        super().__init__("memory://")
        self.args = args

    def start(self) -> _Server:
        command = [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen([*command, *self.args], cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                    return self
            except httpx.HTTPError:
                assert self.proc.poll() is None, "the API server exited"
            time.sleep(0.1)
        raise AssertionError("the API server did not start")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ApiServer]:
    api = _Server(*getattr(request, "param", ())).start()
    yield api
    api.stop()


async def _extensions(server: ApiServer) -> str | None:
    # The client offers permessage-deflate, as browsers do.
    async with websockets.connect(server.ws, subprotocols=[PROTOCOL], open_timeout=10) as ws:
        await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        assert ws.response is not None
        return ws.response.headers.get("Sec-WebSocket-Extensions")


async def test_a_client_offering_compression_gets_plain_messages(server: ApiServer) -> None:
    assert await _extensions(server) is None


@pytest.mark.parametrize("server", [["--ws-per-message-deflate"]], indirect=True)
async def test_compression_is_negotiated_when_the_server_is_told_to(server: ApiServer) -> None:
    negotiated = await _extensions(server)
    assert negotiated is not None
    assert negotiated.startswith("permessage-deflate")
