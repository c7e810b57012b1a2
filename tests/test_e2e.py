"""End to end: real `presta serve` processes driven by a third-party client (gql).

On the production stack, two server processes share one PostgreSQL database and Redis; an
event caused by a mutation on server B reaches a subscription held on server A. The same
flow then runs on the embedded default (a PostgreSQL of its own, in-memory broadcast, one
process).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from service.embedded import Postgres
from tests.support.api_server import Server, clean_env, presta_serve
from tests.support.demo_server import fresh_postgres
from tests.support.this_run import SERVERS

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"

SIGN_UP = """mutation($input: SignUpInput!) {
  signUp(input: $input) { userErrors { code } user { id email } accessToken refreshToken }
}"""
LOG_IN = """mutation($input: LogInInput!) {
  logIn(input: $input) { userErrors { code } accessToken refreshToken }
}"""
REFRESH = """mutation($token: String!) {
  refreshToken(input: {refreshToken: $token}) { userErrors { code } accessToken refreshToken }
}"""
LOG_OUT = """mutation($token: String!) {
  logOut(input: {refreshToken: $token}) { userErrors { code } ok }
}"""
VIEWER = "{ viewer { user { email fullName } } }"
UPDATE = """mutation($name: String!) {
  updateProfile(input: {fullName: $name}) { userErrors { code } user { fullName } }
}"""
WATCH = "subscription { viewerUpdated { cursor user { fullName } } }"


def _run_cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


async def _call(
    server: Server, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    transport = HTTPXAsyncTransport(url=f"{server.base}/graphql", headers=headers, timeout=10)
    async with Client(transport=transport) as session:
        result: dict[str, Any] = await session.execute(
            GraphQLRequest(query, variable_values=variables)
        )
        return result


async def _flow(a: Server, b: Server) -> None:
    """Sign up, log in, viewer, a live event from B seen on A, refresh, log out."""
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    signed = (await _call(a, SIGN_UP, {"input": {"email": email, "password": PASSWORD}}))["signUp"]
    assert signed["userErrors"] == []
    assert signed["user"]["email"] == email

    session = (await _call(b, LOG_IN, {"input": {"email": email, "password": PASSWORD}}))["logIn"]
    assert session["userErrors"] == []
    viewer = (await _call(a, VIEWER, token=session["accessToken"]))["viewer"]
    assert viewer["user"]["email"] == email

    transport = WebsocketsTransport(
        url=a.ws,
        init_payload={"authorization": f"Bearer {session['accessToken']}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as live:
        events = live.subscribe(GraphQLRequest(WATCH))
        first = asyncio.ensure_future(events.__anext__())
        try:
            # No replay cursor: A can only learn of B's change live. The subscription starts
            # listening a moment after `subscribe`, so change the name until one arrives.
            for attempt in range(50):
                name = f"Seen {attempt}"
                await _call(b, UPDATE, {"name": name}, token=session["accessToken"])
                done, _ = await asyncio.wait({first}, timeout=0.2)
                if done:
                    break
            received = await asyncio.wait_for(first, timeout=5)
            assert received["viewerUpdated"]["user"]["fullName"].startswith("Seen ")
            assert received["viewerUpdated"]["cursor"]
        finally:
            first.cancel()
            with contextlib.suppress(BaseException):
                await events.aclose()

    rotated = (await _call(b, REFRESH, {"token": session["refreshToken"]}))["refreshToken"]
    assert rotated["userErrors"] == []
    assert (await _call(a, VIEWER, token=rotated["accessToken"]))["viewer"]["user"]["email"] == (
        email
    )

    assert (await _call(a, LOG_OUT, {"token": rotated["refreshToken"]}))["logOut"]["ok"] is True
    after = (await _call(b, REFRESH, {"token": rotated["refreshToken"]}))["refreshToken"]
    assert after["userErrors"] == [{"code": "INVALID_REFRESH_TOKEN"}]

    with pytest.raises(TransportQueryError) as refused:
        await _call(a, VIEWER, token="forged.token.value")
    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_two_server_processes_share_events_through_redis(tmp_path):
    async with fresh_postgres() as database_url:
        env = clean_env(
            PRESTA_DATABASE_URL=database_url,
            PRESTA_REDIS_URL=SERVERS.redis_url,
            PRESTA_BROADCAST_URL=SERVERS.redis_url,
            PRESTA_REDIS_NAMESPACE=f"presta-e2e-{uuid.uuid4().hex[:8]}",
            PRESTA_DB_POOL_MIN="1",
            PRESTA_DB_POOL_MAX="5",
        )
        _run_cli(env, "migrate")
        with presta_serve(env, tmp_path, "a") as a, presta_serve(env, tmp_path, "b") as b:
            await _flow(a, b)


async def test_the_embedded_default_serves_the_same_flow_in_one_process(tmp_path, server_dir):
    """No PRESTA_DATABASE_URL: each command runs on the embedded PostgreSQL and stops it."""
    cluster = Postgres(server_dir / "postgres")
    env = clean_env(PRESTA_EMBEDDED_DIR=str(cluster.directory))
    _run_cli(env, "migrate")
    assert (cluster.data / "PG_VERSION").exists()
    assert not cluster.processes()
    with presta_serve(env, tmp_path, "embedded") as server:
        assert cluster.running()
        await _flow(server, server)
    # Stopped by SIGTERM, the server stopped its database too.
    assert not cluster.processes()
