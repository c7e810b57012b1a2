"""Mixed load with 500 websocket subscribers: latency per operation, errors, deliveries, memory.

A fresh PostgreSQL database holds one marketplace with ``BENCH_LOAD_PROVIDERS`` (500) accepted
providers, each offering one of 25 services in the same postal code (so a request matches 20 of
them), and 10 clients. A real ``presta serve`` process (events through Redis, jobs through a
``presta worker``) faces, on loopback:

- 500 provider apps, one graphql-transport-ws connection each, subscribed to
  ``serviceRequestDispatched``;
- virtual users in closed loops (each sends, waits for the answer, sends again):
  provider dashboards (``bench/queries.PROVIDER_DASHBOARD``), clients creating requests (each
  dispatched at once to its 20 matching providers), providers answering the requests they
  received, and providers writing to the marketplace's staff.

Reported: p50/p95/p99 per operation, error rate, delivery latency (from the client sending
``createServiceRequest`` to a provider's websocket receiving it), lost deliveries (dispatch rows
in the database with no matching websocket message: must be 0) and duplicates, and the API
process's RSS after a warm-up phase and after each measured phase (the same 500 sockets open
throughout, so growth between phases would be a leak).

Also reported, over the measured phases: the CPU of the API (with its workers), of the
``presta worker`` and of this load generator (which shares the machine's cores), the machine's
busy share and its load average: on a shared machine the latencies move with them.

    python -m bench load     BENCH_LOAD_PROVIDERS=500 BENCH_LOAD_SECONDS=30 BENCH_LOAD_PHASES=2
                             BENCH_LOAD_WORKERS=1 (``presta serve --workers``)
                             BENCH_PROFILE_DIR=... (py-spy of the API during phase 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import websockets

from bench import UNLIMITED, Row
from bench._profile import profiled
from bench._seed import accepted_providers, migrated, past_requests
from bench._servers import (
    answered,
    busy_share,
    cpu_seconds,
    database,
    family_rss_mib,
    free_port,
    http_post,
    machine_jiffies,
    percentile,
    presta,
    process_cpu_seconds,
    redis_url,
)
from bench.dispatch_latency import _gid
from bench.queries import PROVIDER_DASHBOARD

PROVIDERS = int(os.environ.get("BENCH_LOAD_PROVIDERS", "500"))
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "30"))
PHASES = int(os.environ.get("BENCH_LOAD_PHASES", "2"))
# API processes (``presta serve --workers``): 1 by default, the figure the earlier rounds give.
WORKERS = int(os.environ.get("BENCH_LOAD_WORKERS", "1"))
SERVICES = 25
CLIENTS = 10
SLUG = "bench-load"
# Virtual users per operation (closed loops, no think time but for the clients).
USERS = {"dashboard": 8, "create request": 2, "answer": 3, "message": 3}
# Dashboards per second in an open loop instead of the 8 closed loops (0: closed loops). Closed
# loops without think time take every cycle the machine has left, so the other latencies are
# then those of a saturated machine; a fixed rate below saturation measures them at a known load.
DASHBOARD_RATE = float(os.environ.get("BENCH_LOAD_DASHBOARD_RATE", "0"))
CLIENT_PAUSE = 0.25  # seconds between two requests of one client: ~8 requests/s overall

SUBSCRIBE = "subscription { serviceRequestDispatched { serviceRequest { id } } }"
CREATE = """mutation($input: CreateServiceRequestInput!) { createServiceRequest(input: $input) {
  userErrors { code message } serviceRequest { id } } }"""
ANSWER = """mutation($input: RespondToServiceRequestInput!) { respondToServiceRequest(
  input: $input) { userErrors { code message } dispatch { status } } }"""
START = """mutation($input: StartConversationInput!) { startConversation(input: $input) {
  userErrors { code message } conversation { id } } }"""
SEND = """mutation($input: SendMessageInput!) { sendMessage(input: $input) {
  userErrors { code message } message { id } } }"""


@dataclass
class Provider:
    user_id: int
    membership_gid: str
    token: str
    conversation: str | None = None


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent_at: dict[str, float] = field(default_factory=dict)  # request gid -> client send time
    # request gid -> provider index -> receipt times (more than one is a duplicate)
    received: dict[str, dict[int, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    to_answer: asyncio.Queue[tuple[str, int]] = field(default_factory=asyncio.Queue)
    # process name -> CPU seconds over the measured phases; "machine" -> busy share (0-1)
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))


async def _seed(url: str, secret: str) -> dict[str, Any]:
    from tortoise import Tortoise

    from models.account import Client, StaffMember, StaffRole, User
    from models.catalog import ProviderService, ProviderServiceStatus, Service
    from models.marketplace import Marketplace
    from presta.security import hash_password, make_access_token

    async with migrated(url, secret):
        password = hash_password(secrets.token_urlsafe(12))
        # Never enough interest for a proposal: every answer stays a plain answer.
        market = await Marketplace.create(name="Load", slug=SLUG, proposals_required=1000)
        services = [
            await Service.create(marketplace=market, name=f"Service {n}") for n in range(SERVICES)
        ]
        memberships, users = await accepted_providers(market, PROVIDERS, "load", password)
        await ProviderService.bulk_create(
            [
                ProviderService(
                    membership=m,
                    service=services[n % SERVICES],
                    status=ProviderServiceStatus.ACCEPTED,
                )
                for n, m in enumerate(memberships)
            ]
        )
        staff = await User.create(email="staff@load.test", password_hash=password)
        await StaffMember.create(marketplace=market, user=staff, role=StaffRole.ADMIN)
        clients = []
        for n in range(CLIENTS):
            user = await User.create(email=f"client{n}@load.test", password_hash=password)
            await Client.create(
                marketplace=market, user=user, full_name=f"Client {n}", email=f"c{n}@load.test"
            )
            clients.append(make_access_token(user.id)[0])
        await Tortoise.get_connection("default").execute_script(_history(market.id))
        return {
            "services": [_gid("Service", s.id) for s in services],
            "providers": [
                Provider(u.id, _gid("Membership", m.id), make_access_token(u.id)[0])
                for u, m in zip(users, memberships, strict=True)
            ],
            "clients": clients,
        }


# The marketplace's past month, written by SQL before the statistics are taken: requests
# (expired), their dispatches to the providers of their service, the answers, and a
# conversation of each provider with the staff. Started empty, the load measured something no
# marketplace in service shows: PostgreSQL planned the dashboard when its tables held a page
# or two (sequential scans, nested) and kept that plan, cached with each pooled connection's
# prepared statement, while the load filled them: 13 ms per dashboard after 30 s instead of
# 0.9 (auto_explain, 2026-12-04), until autovacuum's next analysis.
PAST_REQUESTS = int(os.environ.get("BENCH_LOAD_PAST_REQUESTS", "2000"))
PAST_MESSAGES = 10


def _history(marketplace_id: int) -> str:
    m = int(marketplace_id)
    return (
        past_requests(m, PAST_REQUESTS)
        + f"""
    INSERT INTO conversation (kind, subject_key, created_at, marketplace_id, membership_id)
    SELECT 'STAFF_PROVIDER', 'staff-provider:' || id, now() - interval '30 days',
        marketplace_id, id
    FROM membership WHERE marketplace_id = {m};
    INSERT INTO message (sender_role, sender_name, text, created_at, conversation_id, sender_id)
    SELECT 'PROVIDER', u.full_name, 'Earlier message ' || k,
        c.created_at + k * interval '2 days', c.id, u.id
    FROM conversation c JOIN membership ms ON ms.id = c.membership_id
        JOIN account_user u ON u.provider_company_id = ms.company_id,
        generate_series(1, {PAST_MESSAGES}) k;
    UPDATE conversation c SET last_message_id = x.id, last_message_at = x.created_at
    FROM (SELECT DISTINCT ON (conversation_id) conversation_id, id, created_at FROM message
          ORDER BY conversation_id, id DESC) x
    WHERE x.conversation_id = c.id;
    INSERT INTO conversation_participant (role, last_read_message_id, notified_message_id,
        joined_at, conversation_id, user_id)
    SELECT 'PROVIDER', c.last_message_id, c.last_message_id, c.created_at, c.id, u.id
    FROM conversation c JOIN membership ms ON ms.id = c.membership_id
        JOIN account_user u ON u.provider_company_id = ms.company_id;
    """
    )


async def _listen(
    port: int, index: int, provider: Provider, stats: Stats, ready: asyncio.Event
) -> None:
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        open_timeout=60,
        ping_interval=None,
        max_queue=None,
    ) as ws:
        init = {"authorization": f"Bearer {provider.token}", "marketplace": SLUG}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
        ack = orjson.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        message = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}
        await ws.send(orjson.dumps(message).decode())
        ready.set()
        async for raw in ws:
            at = time.perf_counter()
            data = orjson.loads(raw)
            if data.get("type") == "next":
                gid = data["payload"]["data"]["serviceRequestDispatched"]["serviceRequest"]["id"]
                stats.received[gid][index].append(at)
                if len(stats.received[gid][index]) == 1:
                    stats.to_answer.put_nowait((gid, index))


class _Http:
    """Keep-alive HTTP/1.1 connections to the API, as little client as the load needs.

    httpx cost this load generator more CPU than the API it loads (py-spy, 2026-12-04: 58% of
    a core, most of it in its connection pool's bookkeeping and an import lookup per request),
    on the two cores the API and PostgreSQL share with it. Each request takes a free
    connection (or opens one) and gives it back once its answer is read. A connection left
    idle for ``IDLE_SECONDS`` is closed rather than reused: uvicorn closes its side after 5 s.
    """

    IDLE_SECONDS = 4.0

    def __init__(self, port: int) -> None:
        self.port = port
        self.free: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def post(self, token: str, body: bytes) -> tuple[int, bytes]:
        """The status and body of the answer to a POST of ``body`` to ``/graphql``."""
        while self.free:
            reader, writer, since = self.free.pop()
            if time.monotonic() - since < self.IDLE_SECONDS:
                break
            writer.close()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            request = http_post(
                self.port, "/graphql", body, Authorization=f"Bearer {token}", X_Marketplace=SLUG
            )
            status, _, answer = await answered(reader, writer, request)
        except BaseException:
            writer.close()
            raise
        self.free.append((reader, writer, time.monotonic()))
        return status, answer

    def close(self) -> None:
        for _, writer, _ in self.free:
            writer.close()
        self.free.clear()


async def _call(
    http: _Http, stats: Stats, op: str, token: str, query: str, variables: Any
) -> dict[str, Any] | None:
    """One operation; None and an error counted when it failed in any way."""
    started = time.perf_counter()
    try:
        status, raw = await http.post(token, orjson.dumps({"query": query, "variables": variables}))
        body = orjson.loads(raw)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
        stats.errors[(op, type(exc).__name__)] += 1
        return None
    stats.latencies[op].append((time.perf_counter() - started) * 1000)
    if status != 200 or body.get("errors"):
        code = (body.get("errors") or [{}])[0].get("extensions", {}).get("code", "HTTP")
        stats.errors[(op, f"{status} {code}")] += 1
        return None
    data: dict[str, Any] = next(iter(body["data"].values()))
    if isinstance(data, dict) and data.get("userErrors"):
        stats.errors[(op, data["userErrors"][0]["code"])] += 1
        return None
    return data


async def _dashboards(http: _Http, stats: Stats, seeded: dict[str, Any], until: float) -> None:
    while time.perf_counter() < until:
        provider = random.choice(seeded["providers"])
        await _call(http, stats, "dashboard", provider.token, PROVIDER_DASHBOARD, {})


async def _paced_dashboards(
    http: _Http, stats: Stats, seeded: dict[str, Any], until: float
) -> None:
    """``DASHBOARD_RATE`` dashboards a second whatever their latency, each on a task of its own
    (on a connection of its own when none is free)."""
    tasks: set[asyncio.Task[Any]] = set()
    at = time.perf_counter()
    while at < until:
        provider = random.choice(seeded["providers"])
        call = _call(http, stats, "dashboard", provider.token, PROVIDER_DASHBOARD, {})
        task = asyncio.create_task(call)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        at += 1 / DASHBOARD_RATE
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
    await asyncio.gather(*tasks)


async def _requests(http: _Http, stats: Stats, seeded: dict[str, Any], until: float) -> None:
    n = 0
    while time.perf_counter() < until:
        n += 1
        variables = {
            "input": {
                "serviceId": random.choice(seeded["services"]),
                "postalCode": "75011",
                "city": "Paris",
                "description": f"load #{n}",
            }
        }
        sent = time.perf_counter()
        data = await _call(
            http, stats, "create request", random.choice(seeded["clients"]), CREATE, variables
        )
        if data is not None:
            stats.sent_at[data["serviceRequest"]["id"]] = sent
        await asyncio.sleep(CLIENT_PAUSE)


async def _answers(http: _Http, stats: Stats, seeded: dict[str, Any], until: float) -> None:
    while time.perf_counter() < until:
        try:
            gid, index = await asyncio.wait_for(stats.to_answer.get(), timeout=0.5)
        except TimeoutError:
            continue
        answer = random.choice(["INTERESTED", "DECLINED"])
        variables = {"input": {"requestId": gid, "answer": answer, "message": "load"}}
        await _call(http, stats, "answer", seeded["providers"][index].token, ANSWER, variables)


async def _messages(http: _Http, stats: Stats, seeded: dict[str, Any], until: float) -> None:
    n = 0
    while time.perf_counter() < until:
        n += 1
        provider = random.choice(seeded["providers"][:50])
        if provider.conversation is None:
            variables = {
                "input": {"kind": "STAFF_PROVIDER", "membershipId": provider.membership_gid}
            }
            data = await _call(http, stats, "start conversation", provider.token, START, variables)
            if data is None:
                continue
            provider.conversation = data["conversation"]["id"]
        variables = {"input": {"conversationId": provider.conversation, "text": f"load {n}"}}
        await _call(http, stats, "message", provider.token, SEND, variables)


async def _phase(port: int, stats: Stats, seeded: dict[str, Any], seconds: float) -> None:
    until = time.perf_counter() + seconds
    loops = {
        "dashboard": _dashboards,
        "create request": _requests,
        "answer": _answers,
        "message": _messages,
    }
    users = dict(USERS)
    if DASHBOARD_RATE:
        loops["dashboard"], users["dashboard"] = _paced_dashboards, 1
    http = _Http(port)
    try:
        await asyncio.gather(
            *(
                loops[op](http, stats, seeded, until)
                for op, count in users.items()
                for _ in range(count)
            )
        )
    finally:
        http.close()


async def _listening(port: int) -> None:
    """Wait until ``presta serve`` answers its health check (every worker started, within 60 s)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"presta serve did not answer on port {port} within 60 s")


async def _backends(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend of the bench database (when PostgreSQL
    runs on this machine: it shares the cores too)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return process_cpu_seconds([r["pid"] for r in rows])


async def _expected(url: str) -> dict[tuple[int, int], int]:
    """(request id, provider user id) of every dispatch row of the run (not of the seeded
    past): each must reach a websocket."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT d.request_id, u.id AS user_id FROM dispatch d "
            "JOIN membership m ON m.id = d.membership_id "
            "JOIN account_user u ON u.provider_company_id = m.company_id "
            "JOIN service_request r ON r.id = d.request_id AND r.status <> 'EXPIRED'"
        )
    finally:
        await conn.close()
    return Counter((r["request_id"], r["user_id"]) for r in rows)


async def run() -> list[Row]:
    from strawberry import relay

    secret = secrets.token_urlsafe(32)
    namespace = f"presta-bench-load-{uuid.uuid4().hex[:6]}"
    async with database("load") as url:
        seeded = await _seed(url, secret)
        providers: list[Provider] = seeded["providers"]
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
            "PRESTA_LOG_LEVEL": "INFO",
            "PRESTA_DB_POOL_MAX": "20",
            "PRESTA_ENVIRONMENT": "development",
            # The server's capacity, not its rate limiter: one marketplace's closed loops
            # spend its default 30,000 a minute within seconds, and the 429s that follow are
            # answered in microseconds (28% of the operations of a run at 18:40 on 2026-12-04).
            **UNLIMITED,
        }
        with (
            presta(["worker", "--threads", "4"], env, "worker started") as worker,
            presta(["serve", "--port", str(port), "--workers", str(WORKERS)], env) as api,
        ):
            await _listening(port)
            # The load generator's own CPU is this process's, without its children.
            pids = {"API": api.pid, "worker": worker.pid}
            stats = Stats()
            readies = [asyncio.Event() for _ in providers]
            listeners = [
                asyncio.create_task(_listen(port, i, p, stats, readies[i]))
                for i, p in enumerate(providers)
            ]
            try:
                for start in range(0, len(providers), 50):
                    await asyncio.wait_for(
                        asyncio.gather(*(r.wait() for r in readies[start : start + 50])), 60
                    )
                await asyncio.sleep(1.0)
                print(f"load: {len(providers)} subscribers connected; warm-up", file=sys.stderr)
                await _phase(port, Stats(to_answer=stats.to_answer), seeded, 5.0)
                rss = [family_rss_mib(api.pid)]
                stats.received.clear()
                started = time.perf_counter()
                for n in range(PHASES):
                    print(f"load: phase {n + 1}/{PHASES}, {SECONDS:.0f} s", file=sys.stderr)
                    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    generator, backends = time.process_time(), await _backends(url)
                    machine = machine_jiffies()
                    with profiled(api.pid if n == 0 else 0, "load-api"):
                        await _phase(port, stats, seeded, SECONDS)
                    for name, pid in pids.items():
                        stats.cpu[name] += cpu_seconds(pid) - before[name]
                    stats.cpu["load generator"] += time.process_time() - generator
                    after = await _backends(url)
                    stats.cpu["PostgreSQL"] += sum(
                        v - backends.get(p, 0.0) for p, v in after.items()
                    )
                    stats.cpu["machine"] += busy_share(machine, machine_jiffies()) / PHASES
                    rss.append(family_rss_mib(api.pid))
                elapsed = time.perf_counter() - started
                # Stragglers: at most 10 s for the last deliveries.
                expected_total = 0
                for _ in range(100):
                    expected = await _expected(url)
                    ids = {int(relay.GlobalID.from_id(g).node_id): g for g in stats.sent_at}
                    expected = Counter({k: v for k, v in expected.items() if k[0] in ids})
                    expected_total = sum(expected.values())
                    got = sum(len(stats.received.get(ids[r], {})) for r in ids)
                    if got >= expected_total:
                        break
                    await asyncio.sleep(0.1)
            finally:
                for task in listeners:
                    task.cancel()
                await asyncio.gather(*listeners, return_exceptions=True)

        index_of = {p.user_id: i for i, p in enumerate(providers)}
        lost = 0
        for request_id, user_id in expected:
            times = stats.received.get(ids[request_id], {}).get(index_of[user_id], [])
            lost += not times
        duplicates = sum(
            len(times) - 1 for per in stats.received.values() for times in per.values() if times
        )
        delivery = [
            (at[0] - stats.sent_at[gid]) * 1000
            for gid, per in stats.received.items()
            if gid in stats.sent_at
            for at in per.values()
        ]
        return _rows(stats, elapsed, rss, expected_total, lost, duplicates, delivery)


def _rows(
    stats: Stats,
    elapsed: float,
    rss: list[float],
    expected: int,
    lost: int,
    duplicates: int,
    delivery: list[float],
) -> list[Row]:
    rows: list[Row] = []
    total = sum(len(v) for v in stats.latencies.values()) + sum(stats.errors.values())
    for op, values in stats.latencies.items():
        rows += [
            Row(f"{op}: ops/s", len(values) / elapsed, "ops/s"),
            Row(f"{op}: p50", statistics.median(values), "ms"),
            Row(f"{op}: p95", percentile(values, 0.95), "ms"),
            Row(f"{op}: p99", percentile(values, 0.99), "ms"),
        ]
    operations = sum(len(v) for v in stats.latencies.values())
    for name in ("API", "worker", "PostgreSQL", "load generator"):
        rows.append(Row(f"{name} CPU (share of one core)", 100 * stats.cpu[name] / elapsed, "%"))
    rows += [
        Row("API CPU per HTTP operation", 1000 * stats.cpu["API"] / max(operations, 1), "ms"),
        Row("machine busy (both cores)", 100 * stats.cpu["machine"], "%"),
        Row("load average (1 min) at the end", os.getloadavg()[0], ""),
    ]
    rows.append(Row("error rate", 100.0 * sum(stats.errors.values()) / max(total, 1), "%"))
    for (op, code), count in sorted(stats.errors.items()):
        rows.append(Row(f"errors {op} {code}", float(count), "count"))
    rows += [
        Row(f"deliveries expected ({len(stats.sent_at)} requests)", float(expected), "count"),
        Row("deliveries lost", float(lost), "count"),
        Row("deliveries duplicated", float(duplicates), "count"),
        Row("delivery latency p50", statistics.median(delivery) if delivery else 0.0, "ms"),
        Row("delivery latency p95", percentile(delivery, 0.95), "ms"),
        Row("delivery latency p99", percentile(delivery, 0.99), "ms"),
        Row("API RSS after warm-up", rss[0], "MiB"),
    ]
    for n, value in enumerate(rss[1:], 1):
        rows.append(Row(f"API RSS after phase {n}", value, "MiB", baseline=rss[0]))
    return rows


if __name__ == "__main__":
    from bench import table

    print(table([("load", asyncio.run(run()))]))
