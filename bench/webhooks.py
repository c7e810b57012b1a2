"""Webhooks: deliveries per second to one fast loopback receiver, and the latency from an
event's commit to its delivery.

A fresh PostgreSQL database holds two marketplaces, each with one endpoint pointing at a
receiver in this process (plain asyncio HTTP/1.1, keep-alive, answers 204 at once:
``tests/support/webhook_receiver.py``); the second endpoint is ``ordered``. A real
``presta serve`` and ``presta worker`` run the jobs through Redis, as in production.

- deliveries/s: ``BENCH_WEBHOOK_EVENTS`` events written straight into each marketplace's event
  log (their fan-out job never ran, as after a crash), then one ``sweep_webhooks`` job: it
  fans them out and starts the sender. The rate is the events over the time from the first
  receipt to the last (sending only), and over the time from the sweep's enqueue (fan-out
  included).
- latency: ``createService`` mutations over HTTP, one every 50 ms; each event's commit is
  the ``created_at`` of its row (written just before the commit), its delivery the time the
  receiver read it. p50 and p99 over ``BENCH_WEBHOOK_REQUESTS`` events.

    python -m bench webhooks    BENCH_WEBHOOK_EVENTS=2000 BENCH_WEBHOOK_REQUESTS=200
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
import uuid
from typing import Any, cast

import httpx
import orjson

from bench import UNLIMITED, Row
from bench._seed import migrated
from bench._servers import database, free_port, percentile, presta, redis_url
from tests.support.webhook_receiver import Receiver

EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "2000"))
REQUESTS = int(os.environ.get("BENCH_WEBHOOK_REQUESTS", "200"))
SLUGS = ("bench-hooks", "bench-hooks-ordered")
CREATE = """mutation($input: CreateServiceInput!) { createService(input: $input) {
  userErrors { code message } service { id } } }"""


async def _seed(url: str, secret: str, receiver: Receiver) -> dict[str, Any]:
    from models.account import StaffMember, StaffRole, User
    from models.marketplace import Marketplace
    from presta.security import hash_password, make_access_token
    from presta.settings import settings
    from resolvers.actor import Actor
    from resolvers.webhook.endpoint import create_webhook_endpoint

    async with migrated(url, secret):
        settings().webhook_allow_loopback = True
        user = await User.create(
            email="admin@bench.test", password_hash=hash_password(secrets.token_urlsafe(12))
        )
        seeded: dict[str, Any] = {"token": make_access_token(user.id)[0], "markets": []}
        for slug in SLUGS:
            market = await Marketplace.create(name=slug, slug=slug)
            await StaffMember.create(user=user, marketplace=market, role=StaffRole.ADMIN)
            admin = Actor(user_id=user.id, marketplace_id=market.id, staff_role=StaffRole.ADMIN)
            _, signing = await create_webhook_endpoint(
                admin, url=receiver.url, ordered=slug.endswith("ordered")
            )
            seeded["markets"].append((market.id, signing))
        return seeded


async def _backlog(url: str, secret: str, marketplace_id: int) -> list[int]:
    """Events in the log, as a crash after commit would leave them (no fan-out job)."""
    from models.events import Event

    async with migrated(url, secret):
        await Event.bulk_create(
            [
                Event(
                    topic="service.updated",
                    marketplace_id=marketplace_id,
                    object_type="Service",
                    object_id=n + 1,
                    audience=[f"staff:{marketplace_id}"],
                    payload={"n": n},
                )
                for n in range(EVENTS)
            ]
        )
        found = await Event.filter(marketplace_id=marketplace_id).values_list("id", flat=True)
        return sorted(cast(list[int], found))


def _event_id(body: bytes) -> int:
    return int(orjson.loads(body)["data"]["eventId"])


async def _wait(receiver: Receiver, count: int, within: float) -> None:
    for _ in range(int(within / 0.05)):
        if len(receiver.received) >= count:
            return
        await asyncio.sleep(0.05)


async def _throughput(
    url: str, secret: str, env: dict[str, str], receiver: Receiver, market: int, label: str
) -> list[Row]:
    from dramatiq import Message
    from dramatiq.brokers.redis import RedisBroker

    ids = await _backlog(url, secret, market)
    receiver.received.clear()
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=env["PRESTA_REDIS_URL"], namespace=f"{env['PRESTA_REDIS_NAMESPACE']}-dramatiq"
    )
    started = time.time()
    message: Message[Any] = Message(
        queue_name="default", actor_name="sweep_webhooks", args=(), kwargs={}, options={}
    )
    await asyncio.to_thread(broker.enqueue, message)
    await _wait(receiver, len(ids), within=300)
    received = [_event_id(r.body) for r in receiver.received]
    if sorted(received) != ids:
        raise RuntimeError(f"{label}: {len(received)} received of {len(ids)}, or duplicates")
    if label == "ordered" and received != ids:
        raise RuntimeError("ordered endpoint: deliveries out of event order")
    first, last = receiver.received[0].at, receiver.received[-1].at
    return [
        Row(f"{label} endpoint: deliveries/s (sending)", len(ids) / (last - first), "/s"),
        Row(
            f"{label} endpoint: deliveries/s (fan-out included)", len(ids) / (last - started), "/s"
        ),
    ]


async def _timestamps(url: str, ids: list[int]) -> dict[int, tuple[float, float]]:
    """Per event: its commit (its row's ``created_at``) and its fan-out (the delivery's)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT e.id, e.created_at, d.created_at AS fanned FROM event e "
            "JOIN webhook_delivery d ON d.event_id = e.id WHERE e.id = ANY($1::bigint[])",
            ids,
        )
    finally:
        await conn.close()
    return {r["id"]: (r["created_at"].timestamp(), r["fanned"].timestamp()) for r in rows}


async def _latency(url: str, port: int, token: str, receiver: Receiver) -> list[Row]:
    receiver.received.clear()
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}", "X-Marketplace": SLUGS[0]},
        timeout=30,
    ) as http:
        for n in range(REQUESTS):
            variables = {"input": {"name": f"Service {n}", "category": "Home"}}
            response = await http.post("/graphql", json={"query": CREATE, "variables": variables})
            assert response.json()["data"]["createService"]["userErrors"] == [], response.text
            await asyncio.sleep(0.05)
    await _wait(receiver, REQUESTS, within=30)
    arrived = {_event_id(r.body): r.at for r in receiver.received}
    times = await _timestamps(url, list(arrived))
    latencies = [(arrived[i] - times[i][0]) * 1000 for i in arrived]
    # The job's part: from the commit to the delivery row (outbox, queue, worker, fan-out).
    fanned = [(times[i][1] - times[i][0]) * 1000 for i in arrived]
    return [
        Row("event -> webhook latency: p50", statistics.median(latencies), "ms"),
        Row("event -> webhook latency: p99", percentile(latencies, 0.99), "ms"),
        Row("event -> delivery row written: p50", statistics.median(fanned), "ms"),
        Row("event -> webhook: delivered", 100.0 * len(latencies) / REQUESTS, "%"),
    ]


async def run() -> list[Row]:
    secret = secrets.token_urlsafe(32)
    namespace = f"presta-bench-{uuid.uuid4().hex[:6]}"
    async with database("webhooks") as url, Receiver() as receiver:
        seeded = await _seed(url, secret, receiver)
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
            "PRESTA_WEBHOOK_ALLOW_LOOPBACK": "true",
            **UNLIMITED,
            "PRESTA_DB_POOL_MAX": "10",
            "PRESTA_ENVIRONMENT": "development",
        }
        with (
            presta(["worker", "--threads", "4"], {**env, "PRESTA_LOG_LEVEL": "INFO"}, "worker"),
            presta(
                ["serve", "--port", str(port)],
                {**env, "PRESTA_LOG_LEVEL": "INFO"},
                "Application startup complete",
            ),
        ):
            rows: list[Row] = []
            for (market, _), label in zip(seeded["markets"], ("unordered", "ordered"), strict=True):
                rows += await _throughput(url, secret, env, receiver, market, label)
            rows += await _latency(url, port, seeded["token"], receiver)
    return rows
