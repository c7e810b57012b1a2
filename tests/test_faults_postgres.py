"""PostgreSQL restarted under load: during the outage every request fails fast with
`SERVICE_UNAVAILABLE` (and `/readyz` says 503); within 10 s of the database coming back,
requests succeed again, from the same API process.

The database is a private cluster (service.embedded) in a temporary directory on a free port
(the machine's PostgreSQL is never touched); the API is a real ``presta serve`` subprocess.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.embedded import Postgres
from tests.support.api_server import ApiServer
from tests.support.processes import free_port
from tests.support.servers import FAST

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "fault-tolerant-password"
CLIENTS = 8
OUTAGE_SECONDS = 6.0
RECOVERY_SECONDS = 10.0


@pytest.fixture
def private_postgres(server_dir: Path) -> Iterator[Postgres]:
    """A private cluster on a loopback port; ``stop``/``start`` simulate a restart on it (a
    "fast" stop, as a restart does to clients: their sessions are cut at once)."""
    cluster = Postgres(server_dir / "postgres", port=free_port(), options=FAST)
    try:
        cluster.start()
        cluster.psql("CREATE DATABASE presta")
        env = {**os.environ, "PRESTA_DATABASE_URL": cluster.url("presta")}
        for command in (
            ["migrate"],
            ["create-platform-admin", "admin@example.com", "--name", "Admin"],
        ):
            subprocess.run(
                [sys.executable, "-m", "service.cli", *command],
                cwd=ROOT,
                env={**env, "PRESTA_ADMIN_PASSWORD": PASSWORD},
                check=True,
                stdout=subprocess.DEVNULL,
            )
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Outcome:
    started: float
    seconds: float
    code: str  # "OK" or the error code


VIEWER = "{ viewer { isPlatformAdmin user { email } } }"
RENAME = """mutation($name: String!) { updateProfile(input: {fullName: $name}) {
  userErrors { code } user { fullName } } }"""


async def _client(
    server: ApiServer, token: str, stop: asyncio.Event, out: list[Outcome], *, writes: bool
) -> None:
    """Reads (the viewer) or writes (a rename, one transaction with its event) in a loop."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            if writes:
                request = {"query": RENAME, "variables": {"name": f"Admin {n}"}}
            else:
                request = {"query": VIEWER}
            response = await client.post(server.http, json=request)
            body = response.json()
            if body.get("errors"):
                code = str(body["errors"][0].get("extensions", {}).get("code"))
            elif writes:
                assert body["data"]["updateProfile"]["user"]["fullName"] == f"Admin {n}"
                code = "OK"
            else:
                assert body["data"]["viewer"]["user"]["email"] == "admin@example.com"
                code = "OK"
            out.append(Outcome(started, time.monotonic() - started, code))
            await asyncio.sleep(0.02)


async def _ready(server: ApiServer) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.get(server.http.replace("/graphql", "/readyz"))).status_code


async def test_postgresql_restarted_under_load_fails_fast_then_recovers_within_10_seconds(
    private_postgres,
):
    server = ApiServer(
        "memory://",
        PRESTA_DATABASE_URL=private_postgres.url("presta"),
        PRESTA_DB_POOL_MAX="10",
        PRESTA_LOG_LEVEL="ERROR",
    ).start()
    try:
        token = await _token(server)
        outcomes: list[Outcome] = []
        stop = asyncio.Event()
        clients = [
            asyncio.create_task(_client(server, token, stop, outcomes, writes=n % 2 == 1))
            for n in range(CLIENTS)
        ]
        await asyncio.sleep(2)
        assert await _ready(server) == 200

        down_at = time.monotonic()
        await asyncio.to_thread(private_postgres.stop)
        down_done = time.monotonic()
        await asyncio.sleep(1)
        assert await _ready(server) == 503
        await asyncio.sleep(OUTAGE_SECONDS - 1)
        up_started = time.monotonic()
        await asyncio.to_thread(private_postgres.start)
        up_at = time.monotonic()  # PostgreSQL accepts connections again
        await asyncio.sleep(RECOVERY_SECONDS + 3)
        stop.set()
        await asyncio.gather(*clients)
        assert await _ready(server) == 200

        before = [o for o in outcomes if o.started + o.seconds < down_at]
        during = [
            o
            for o in outcomes
            if down_done + 0.5 < o.started and o.started + o.seconds < up_started
        ]
        after = [o for o in outcomes if o.started > up_at]
        # Even requests caught by the stop itself fail cleanly: never a masked internal error.
        assert {o.code for o in outcomes} <= {"OK", "SERVICE_UNAVAILABLE"}
        assert before
        assert all(o.code == "OK" for o in before)
        assert len(during) > CLIENTS * 5, "the clients stalled during the outage"
        assert {o.code for o in during} == {"SERVICE_UNAVAILABLE"}
        assert max(o.seconds for o in during) < 2.0, "a request waited for the dead database"
        first_ok = min(o.started + o.seconds for o in after if o.code == "OK")
        recovered_in = first_ok - up_at
        assert recovered_in < RECOVERY_SECONDS
        late = [o for o in after if o.started > first_ok + 1.0]
        assert late
        assert all(o.code == "OK" for o in late), {o.code for o in late}
        print(
            f"\nPostgreSQL restart: {len(before)} ok before, {len(during)} SERVICE_UNAVAILABLE "
            f"during (slowest {max(o.seconds for o in during) * 1000:.0f} ms), first success "
            f"{recovered_in:.2f} s after PostgreSQL came back"
        )
    finally:
        server.stop()


async def _token(server: ApiServer) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            server.http,
            json={
                "query": "mutation($e: String!, $p: String!) { logIn(input: {email: $e, "
                "password: $p}) { accessToken } }",
                "variables": {"e": "admin@example.com", "p": PASSWORD},
            },
        )
    return str(response.json()["data"]["logIn"]["accessToken"])
