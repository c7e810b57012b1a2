"""Dispatch latency: from ``createServiceRequest`` committed to ``serviceRequestDispatched``
received on every matched provider's websocket.

A fresh PostgreSQL database holds one marketplace with 1,000 accepted providers, all with a
websocket open and subscribed; service A is offered by 10 of them, service B by 100. It starts
with a past month of ``BENCH_PAST_REQUESTS`` requests of A and B (500), dispatched, before the
statistics are taken: started empty, PostgreSQL planned the event statement on tables of a
page or two and kept that plan (sequential scans of ``dispatch``, 20-45 ms per event by the end
of the run instead of 2-4) with each pooled connection's prepared statement. A real
``presta serve`` process (events through Redis, jobs through ``presta worker`` on Redis) takes
requests from a client over HTTP. The start of each measure is the commit: the timestamp of the
request's last event row, written just before the transaction commits. Every delivery is one
sample; p50 and p99 are over the deliveries of ``BENCH_REQUESTS`` requests per service.

    python -m bench dispatch_latency   BENCH_PROVIDERS=1000 BENCH_REQUESTS=20
                                       BENCH_SERVER_WORKERS=1 (uvicorn processes) by default
                                       BENCH_SERVE_ARGS="--no-ws-per-message-deflate" ...
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import statistics
import time
import uuid
from collections import defaultdict
from typing import Any

import httpx
import orjson
import websockets

from bench import UNLIMITED, Row
from bench._profile import profiled
from bench._seed import accepted_providers, migrated, past_requests
from bench._servers import cpu_seconds, database, free_port, percentile, presta, redis_url

PROVIDERS = int(os.environ.get("BENCH_PROVIDERS", "1000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20"))
PAST_REQUESTS = int(os.environ.get("BENCH_PAST_REQUESTS", "500"))
SERVERS = int(os.environ.get("BENCH_SERVER_WORKERS", "1"))
# Extra ``presta serve`` options to compare, e.g. "--no-ws-per-message-deflate".
SERVE_ARGS = os.environ.get("BENCH_SERVE_ARGS", "").split()
MATCHED = (10, 100)
SLUG = "bench-dispatch"
SUBSCRIBE = "subscription { serviceRequestDispatched { serviceRequest { id } } }"
CREATE = """mutation($input: CreateServiceRequestInput!) { createServiceRequest(input: $input) {
  userErrors { code message } serviceRequest { id status } } }"""


async def _seed(url: str, secret: str) -> dict[str, Any]:
    """Providers, services and zones through the models; tokens signed with the server's key."""
    from tortoise import Tortoise

    from models.account import Client, User
    from models.catalog import ProviderService, ProviderServiceStatus, Service
    from models.marketplace import Marketplace
    from presta.security import hash_password, make_access_token

    async with migrated(url, secret):
        password = hash_password(secrets.token_urlsafe(12))
        market = await Marketplace.create(name="Bench", slug=SLUG, proposals_required=3)
        services = [await Service.create(marketplace=market, name=f"Service {n}") for n in "ABC"]
        memberships, users = await accepted_providers(market, PROVIDERS, "bench", password)
        offers = []
        for n, m in enumerate(memberships):
            service = services[0] if n < MATCHED[0] else services[1] if n < MATCHED[1] else None
            for s in [services[1]] if service is services[0] else []:
                offers.append(ProviderService(membership=m, service=s, status="ACCEPTED"))
            offers.append(
                ProviderService(
                    membership=m,
                    service=service or services[2],
                    status=ProviderServiceStatus.ACCEPTED,
                )
            )
        await ProviderService.bulk_create(offers)
        client_user = await User.create(email="client@bench.test", password_hash=password)
        await Client.create(
            marketplace=market, user=client_user, full_name="Bench client", email="c@bench.test"
        )
        history = past_requests(market.id, PAST_REQUESTS, [s.id for s in services[:2]])
        await Tortoise.get_connection("default").execute_script(history)
        return {
            "services": [str(_gid("Service", s.id)) for s in services],
            "provider_tokens": [make_access_token(u.id)[0] for u in users],
            "client_token": make_access_token(client_user.id)[0],
        }


def _gid(kind: str, pk: int) -> str:
    from strawberry import relay

    return str(relay.GlobalID(kind, str(pk)))


class Listener:
    """One provider app: a graphql-transport-ws connection subscribed to its dispatches."""

    def __init__(self, port: int, token: str, received: dict[str, list[float]]) -> None:
        self.port, self.token, self.received = port, token, received
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with websockets.connect(
            f"ws://127.0.0.1:{self.port}/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
            open_timeout=30,
            ping_interval=None,
        ) as ws:
            init = {"authorization": f"Bearer {self.token}", "marketplace": SLUG}
            await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
            ack = orjson.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            message = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}
            await ws.send(orjson.dumps(message).decode())
            self.ready.set()
            async for raw in ws:
                at = time.time()
                data = orjson.loads(raw)
                if data.get("type") == "next":
                    item = data["payload"]["data"]["serviceRequestDispatched"]
                    self.received[item["serviceRequest"]["id"]].append(at)


async def _committed_at(url: str, request_gids: list[str]) -> dict[str, float]:
    import asyncpg
    from strawberry import relay

    ids = {int(relay.GlobalID.from_id(g).node_id): g for g in request_gids}
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT object_id, max(created_at) AS at FROM event "
            "WHERE object_type = 'ServiceRequest' AND object_id = ANY($1::bigint[]) "
            "GROUP BY object_id",
            list(ids),
        )
    finally:
        await conn.close()
    return {ids[r["object_id"]]: r["at"].timestamp() for r in rows}


async def run() -> list[Row]:
    secret = secrets.token_urlsafe(32)
    namespace = f"presta-bench-{uuid.uuid4().hex[:6]}"
    async with database("dispatch") as url:
        seeded = await _seed(url, secret)
        port = free_port()
        env = {
            **os.environ,
            "PRESTA_DATABASE_URL": url,
            "PRESTA_SECRET_KEY": secret,
            "PRESTA_REDIS_URL": redis_url(),
            "PRESTA_BROADCAST_URL": redis_url(),
            "PRESTA_JOBS_BACKEND": "dramatiq",
            "PRESTA_REDIS_NAMESPACE": namespace,
            "PRESTA_MAIL_ENABLED": "false",
            "PRESTA_LOG_LEVEL": "WARNING",
            **UNLIMITED,
            "PRESTA_DB_POOL_MAX": "10",
            "PRESTA_ENVIRONMENT": "development",
        }
        with (
            presta(["worker", "--threads", "2"], {**env, "PRESTA_LOG_LEVEL": "INFO"}, "worker"),
            presta(
                ["serve", "--port", str(port), "--workers", str(SERVERS), *SERVE_ARGS],
                {**env, "PRESTA_LOG_LEVEL": "INFO"},
                "Application startup complete",
                SERVERS,
            ) as server,
        ):
            received: dict[str, list[float]] = defaultdict(list)
            listeners = [Listener(port, t, received) for t in seeded["provider_tokens"]]
            for start in range(0, len(listeners), 50):
                batch = listeners[start : start + 50]
                for listener in batch:
                    listener.task = asyncio.create_task(listener.run())
                await asyncio.wait_for(asyncio.gather(*(lst.ready.wait() for lst in batch)), 60)
            await asyncio.sleep(1.0)
            # This process holds the 1,000 client websockets: a full collection of its own
            # pauses for 100-130 ms, and deliveries received meanwhile are stamped late.
            gc.collect()
            gc.freeze()
            rows: list[Row] = []
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={
                        "Authorization": f"Bearer {seeded['client_token']}",
                        "X-Marketplace": SLUG,
                    },
                    timeout=30,
                ) as http:
                    for matched, service in zip(MATCHED, seeded["services"], strict=False):
                        with profiled(server.pid, f"dispatch-{matched}"):
                            cpu = cpu_seconds(server.pid)
                            rows += await _scenario(http, url, received, matched, service)
                            cpu = cpu_seconds(server.pid) - cpu
                        # Includes the mutations and idle keep-alives of the phase.
                        per = 1000 * cpu / (matched * REQUESTS)
                        rows.append(Row(f"{matched} matched: server CPU per delivery", per, "ms"))
            finally:
                for listener in listeners:
                    if listener.task is not None:
                        listener.task.cancel()
                await asyncio.gather(
                    *(lst.task for lst in listeners if lst.task), return_exceptions=True
                )
    return rows


async def _scenario(
    http: httpx.AsyncClient,
    url: str,
    received: dict[str, list[float]],
    matched: int,
    service: str,
) -> list[Row]:
    gids: list[str] = []
    for n in range(REQUESTS):
        variables = {
            "input": {
                "serviceId": service,
                "postalCode": "75011",
                "city": "Paris",
                "description": f"bench {matched} #{n}",
            }
        }
        response = await http.post("/graphql", json={"query": CREATE, "variables": variables})
        payload = response.json()["data"]["createServiceRequest"]
        assert payload["userErrors"] == [], payload
        gids.append(payload["serviceRequest"]["id"])
        await asyncio.sleep(0.3)
    for _ in range(200):  # at most 10 s for stragglers
        if all(len(received[g]) >= matched for g in gids):
            break
        await asyncio.sleep(0.05)
    committed = await _committed_at(url, gids)
    latencies = [(at - committed[g]) * 1000 for g in gids for at in received[g]]
    firsts = [(min(received[g]) - committed[g]) * 1000 for g in gids if received[g]]
    delivered = sum(min(len(received[g]), matched) for g in gids)
    label = f"{matched} matched of {PROVIDERS} connected"
    return [
        Row(f"{label}: p50", statistics.median(latencies), "ms"),
        Row(f"{label}: p99", percentile(latencies, 0.99), "ms"),
        # The fixed part (commit, publish, the shared snapshot), before the fan-out.
        Row(f"{label}: first delivery, p50", statistics.median(firsts), "ms"),
        Row(f"{label}: delivered", 100.0 * delivered / (matched * REQUESTS), "%"),
    ]
