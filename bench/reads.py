"""The everyday reads on the realistic data set: Presta against a plain handler.

Data: ``bench/_dataset.py`` (10k providers, 50k memberships, 200k requests, 500k
interventions, 1M messages; built once with COPY, reused while the schema is unchanged).
Queries: ``bench/queries.py`` - the provider dashboard (as 200 different provider users of
one marketplace, in turn) and the staff providers screen (50 per page). The baseline is
``bench/_plain_reads.py`` (Starlette + asyncpg + orjson, SQL by hand, the same JSON); the
first answer of each is compared with Presta's and a difference is shown in the row name.

Rows: throughput of each screen against the plain handler, one uvicorn process each (the
machine has 2 cores: the load generator takes part of one); two API processes against one on
the dashboard (target >= 1.7x); the dashboard's p99 latency at half of the one-process peak,
sent at a fixed rate (open loop, target < 50 ms). For each screen, the CPU time each server
process spends per request (from ``/proc``), and for the dashboard the floor: graphql-core
alone executing the same document over the answer's data in memory (no I/O, no strawberry).

    python -m bench reads      BENCH_SECONDS=5 BENCH_CONCURRENCY=16 by default
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import orjson

from bench import UNLIMITED, Row, _dataset
from bench._profile import profiled
from bench._servers import (
    ROOT,
    busy_share,
    cpu_seconds,
    exchange,
    free_port,
    http_post,
    listening,
    machine_jiffies,
)
from bench.queries import PROVIDER_DASHBOARD, PROVIDERS_SCREEN

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
USERS = 200
WARM_UP_SECONDS = 1.0


def _http(port: int, path: str, token: str, slug: str, body: bytes, **headers: str) -> bytes:
    return http_post(
        port, path, body, Authorization=f"Bearer {token}", X_Marketplace=slug, **headers
    )


# PostgreSQL flushes a backend's statistics at most once a second while it works, and within
# ten seconds once it is idle: counted after that, the committed transactions of the database
# are its statements (reads run one statement per transaction).
STATS_SETTLE_SECONDS = 11.0


async def statements_per_request(url: str, port: int, requests: list[bytes], n: int = 40) -> float:
    """Statements each request costs, from PostgreSQL's count of committed transactions."""
    import asyncpg

    async def committed() -> int:
        conn = await asyncpg.connect(url)
        try:
            found: int = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
            return found
        finally:
            await conn.close()

    await asyncio.sleep(STATS_SETTLE_SECONDS)
    before = await committed()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(n):
            await exchange(reader, writer, requests[i % len(requests)])
    finally:
        writer.close()
    await asyncio.sleep(STATS_SETTLE_SECONDS)
    return (await committed() - before - 1) / n  # less the count's own transaction


async def closed_loop(port: int, requests: list[bytes], seconds: float) -> tuple[float, float]:
    """Requests per second and median latency (ms), CONCURRENCY keep-alive connections."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    latencies: list[float] = []

    async def client(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            i = n
            while loop.time() < deadline:
                started = time.perf_counter()
                await exchange(reader, writer, requests[i % len(requests)])
                latencies.append(time.perf_counter() - started)
                i += CONCURRENCY
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float) -> float:
    """p99 latency (ms) of requests sent at ``rate`` per second whatever the answers take."""
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(64)]
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for pair in connections:
        idle.put_nowait(pair)
    latencies: list[float] = []

    async def one(request: bytes, due: float) -> None:
        pair = await idle.get()
        try:
            await exchange(*pair, request)
            # From when it was due: waiting for a free connection counts as latency.
            latencies.append(time.perf_counter() - due)
        finally:
            idle.put_nowait(pair)

    tasks = []
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(requests[n % len(requests)], due)))
    await asyncio.gather(*tasks)
    for _, writer in connections:
        writer.close()
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


async def _first_body(port: int, request: bytes) -> Any:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return orjson.loads(await exchange(reader, writer, request))
    finally:
        writer.close()


def _differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _differences(a.get(key, "<absent>"), b.get(key, "<absent>"), f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} vs {len(b)} items"
        for n, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from _differences(x, y, f"{path}[{n}]")
    elif a != b:
        yield f"{path}: {a!r} vs {b!r}"


def _same(label: str, presta: Any, plain: Any) -> str:
    presta = {k: v for k, v in presta.items() if k != "extensions"}  # which executor ran
    if "errors" in presta:
        raise RuntimeError(f"{label}: presta answered errors: {presta['errors'][:2]}")
    diff = list(_differences(presta, plain))
    if not diff:
        return ""
    print(f"[bench] {label}: JSON differs from the plain handler:", file=sys.stderr)
    for line in diff[:10]:
        print(f"    {line}", file=sys.stderr)
    return f" (JSON differs at {len(diff)} places)"


def graphql_floor(document: str, answer: Any, rounds: int = 200) -> float:
    """CPU ms to execute ``document`` with graphql-core alone over the answer's own data.

    No database, no HTTP, no authentication, no strawberry: the schema is built from
    ``schema.graphql`` and every field is read from the in-memory answer by graphql-core's
    default resolver. What any server executing this document with graphql-core pays at
    least, to set against the plain handler's whole CPU per request.
    """
    from graphql import build_schema, execute_sync, parse, validate

    schema = build_schema((ROOT / "schema.graphql").read_text())
    parsed = parse(document)
    if validate(schema, parsed):
        raise RuntimeError("the document does not validate against schema.graphql")
    data = answer["data"]
    result = execute_sync(schema, parsed, root_value=data)
    if result.errors or result.data != data:
        raise RuntimeError(f"the floor does not reproduce the answer: {result.errors}")
    started = time.process_time()
    for _ in range(rounds):
        orjson.dumps(execute_sync(schema, parsed, root_value=data).data)
    return (time.process_time() - started) / rounds * 1000


def _tokens(secret: str, user_ids: list[int]) -> list[str]:
    from presta.security import make_access_token
    from presta.settings import override_settings, settings

    previous = settings().secret_key
    override_settings(secret_key=secret)
    try:
        return [make_access_token(u)[0] for u in user_ids]
    finally:
        override_settings(secret_key=previous)


@contextlib.contextmanager
def _servers(
    url: str, secret: str, presta_workers: int
) -> Iterator[tuple[int, int, subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PRESTA_", "BENCH_"))}
    presta_env = {
        **base,
        "PRESTA_DATABASE_URL": url,
        "PRESTA_SECRET_KEY": secret,
        "PRESTA_LOG_LEVEL": "WARNING",
        **UNLIMITED,
        "PRESTA_MAIL_ENABLED": "false",
        "PRESTA_STORAGE_DIR": str(ROOT / "var" / "bench-storage"),
    }
    plain_env = {**base, "BENCH_DATABASE_URL": url, "BENCH_SECRET": secret}
    presta_port, plain_port = free_port(), free_port()
    presta_cmd = [
        *(sys.executable, "-m", "service.cli", "serve", "--port", str(presta_port)),
        *("--workers", str(presta_workers)),
    ]
    plain_cmd = [
        *(sys.executable, "-m", "uvicorn", "bench._plain_reads:app"),
        *("--host", "127.0.0.1", "--port", str(plain_port)),
        *("--log-level", "warning", "--no-access-log"),
    ]
    with (
        listening(presta_cmd, presta_env, presta_port) as server,
        listening(plain_cmd, plain_env, plain_port) as plain,
    ):
        yield presta_port, plain_port, server, plain


async def run() -> list[Row]:
    data = await _dataset.ensure()
    secret = secrets.token_urlsafe(48)
    providers = data.provider_user_ids[:: max(1, len(data.provider_user_ids) // USERS)][:USERS]
    provider_tokens = _tokens(secret, providers)
    (staff_token,) = _tokens(secret, [data.staff_user_id])
    dashboard_body = orjson.dumps({"query": PROVIDER_DASHBOARD})
    screen_body = orjson.dumps({"query": PROVIDERS_SCREEN})

    def dashboard(port: int, path: str, **headers: str) -> list[bytes]:
        return [_http(port, path, t, data.slug, dashboard_body, **headers) for t in provider_tokens]

    def screen(port: int, path: str, **headers: str) -> list[bytes]:
        return [_http(port, path, staff_token, data.slug, screen_body, **headers)]

    rows: list[Row] = []
    busy: dict[tuple[str, str], float] = {}
    with _servers(data.url, secret, 1) as (presta, plain, server, plain_server):
        one_process = 0.0
        for label, build, path in (
            ("provider dashboard", dashboard, "/dashboard"),
            ("providers screen (50 per page)", screen, "/providers"),
        ):
            presta_requests, plain_requests = build(presta, "/graphql"), build(plain, path)
            standard_requests = build(presta, "/graphql", X_Presta_Executor="standard")
            first = await _first_body(presta, presta_requests[0])
            executor = first.get("extensions", {}).get("executor", "?")
            note = _same(label, first, await _first_body(plain, plain_requests[0]))
            note += _same(
                f"{label} (standard)",
                await _first_body(presta, standard_requests[0]),
                await _first_body(plain, plain_requests[0]),
            )
            figures, cpu, statements = {}, {}, {}
            for name, port, requests, pid in (
                ("plain", plain, plain_requests, plain_server.pid),
                ("presta", presta, presta_requests, server.pid),
                ("standard", presta, standard_requests, server.pid),
            ):
                await closed_loop(port, requests, WARM_UP_SECONDS)
                with profiled(server.pid if name == "presta" else 0, f"reads-{label[:18]}"):
                    before, machine = cpu_seconds(pid), machine_jiffies()
                    figures[name] = await closed_loop(port, requests, SECONDS)
                    served = figures[name][0] * SECONDS
                    cpu[name] = (cpu_seconds(pid) - before) / served * 1000
                    busy[label, name] = busy_share(machine, machine_jiffies())
                statements[name] = await statements_per_request(data.url, port, requests)
            (plain_rps, plain_ms), (presta_rps, presta_ms) = figures["plain"], figures["presta"]
            standard_rps, standard_ms = figures["standard"]
            rows += [
                Row(f"{label}: plain Starlette + asyncpg", plain_rps, "req/s"),
                Row(f"{label}: presta ({executor}){note}", presta_rps, "req/s", plain_rps),
                Row(f"{label}: presta (standard executor)", standard_rps, "req/s", plain_rps),
                Row(f"{label}: median latency, presta vs plain", presta_ms, "ms", plain_ms),
                Row(f"{label}: median latency, standard vs plain", standard_ms, "ms", plain_ms),
            ]
            rows += [
                Row(f"{label}: server CPU per request, presta vs plain", cpu["presta"], "ms",
                    cpu["plain"]),
                Row(f"{label}: server CPU per request, standard vs plain", cpu["standard"], "ms",
                    cpu["plain"]),
                Row(f"{label}: statements per request, presta vs plain", statements["presta"],
                    "stmt", statements["plain"]),
                Row(f"{label}: statements per request, standard vs plain",
                    statements["standard"], "stmt", statements["plain"]),
            ]  # fmt: skip
            if label == "provider dashboard":
                one_process = presta_rps
                answer = await _first_body(presta, presta_requests[0])
                floor = graphql_floor(PROVIDER_DASHBOARD, answer)
                rows.append(
                    Row("provider dashboard: graphql-core alone, no I/O (floor), CPU per request",
                        floor, "ms", cpu["plain"])
                )  # fmt: skip
                requests_one = presta_requests
        half = one_process / 2
        p99 = await open_loop(presta, requests_one, half, SECONDS)
        rows.append(
            Row(
                f"provider dashboard: p99 at half the peak ({half:.0f} req/s; target < 50)",
                p99,
                "ms",
            )
        )
    with _servers(data.url, secret, 2) as (presta, _plain, _server, _plain_server):
        requests_two = dashboard(presta, "/graphql")
        await closed_loop(presta, requests_two, WARM_UP_SECONDS + 1)
        machine = machine_jiffies()
        two_processes, _ = await closed_loop(presta, requests_two, SECONDS)
        busy_two = busy_share(machine, machine_jiffies())
    busy_one = busy["provider dashboard", "presta"]
    rows += [
        Row("provider dashboard: 2 API processes vs 1 (target >= 1.7x)", two_processes, "req/s",
            one_process),
        # The API, PostgreSQL and the load generator share the machine: with one API process
        # they keep ``busy_one`` of its CPU busy, so at most 1 / busy_one times the requests
        # fit in it, however many processes serve them.
        Row("provider dashboard: share of the machine's CPU busy, 2 API processes vs 1",
            100 * busy_two, "%", 100 * busy_one),
        Row("provider dashboard: most this machine allows 2 processes (1 / share busy with 1)",
            1 / busy_one, "x"),
    ]  # fmt: skip
    return rows


if __name__ == "__main__":
    from bench import main

    sys.exit(main(["reads"]))
