"""A small authenticated query, requests per second: Presta against a plain handler.

Both servers run as uvicorn processes on loopback, on the same PostgreSQL database (a fresh
one, dropped at the end), and answer ``{ viewer { user { email fullName } } }`` with the same
JSON for the same bearer token. The plain one is Starlette + asyncpg + orjson with the token
check and one SELECT written by hand (``bench/_plain_app.py``). Each is loaded in turn by
keep-alive connections for a fixed time; the ratio is Presta / plain.

    python -m bench small_query      BENCH_SECONDS=5 BENCH_CONCURRENCY=16 by default
                                     BENCH_PROFILE_DIR=... (py-spy of each server while measured)
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

import httpx
import orjson

from bench import UNLIMITED, Row
from bench._profile import profiled
from bench._servers import ROOT, database, exchange, free_port, http_post, listening

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
WARM_UP_SECONDS = 1.0
QUERY = "{ viewer { user { email fullName } } }"


def _request(port: int, token: str) -> bytes:
    body = orjson.dumps({"query": QUERY})
    return http_post(port, "/graphql", body, Authorization=f"Bearer {token}")


async def _load(port: int, token: str, seconds: float) -> tuple[float, float, bytes]:
    """Requests per second and median latency (ms) over ``seconds``, and one response body."""
    request = _request(port, token)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    latencies: list[float] = []
    sample: list[bytes] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while loop.time() < deadline:
                started = time.perf_counter()
                body = await exchange(reader, writer, request)
                latencies.append(time.perf_counter() - started)
                if not sample:
                    sample.append(body)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, sample[0]


async def _sign_up(port: int) -> str:
    mutation = """mutation($input: SignUpInput!) {
      signUp(input: $input) { userErrors { code } accessToken }
    }"""
    variables = {
        "input": {
            "email": "bench@example.com",
            "password": "bench-password-123",
            "fullName": "Bench User",
        }
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        response = await client.post("/graphql", json={"query": mutation, "variables": variables})
    payload = response.json()["data"]["signUp"]
    if payload["userErrors"]:
        raise RuntimeError(f"sign-up failed: {payload['userErrors']}")
    return str(payload["accessToken"])


async def run() -> list[Row]:
    secret = secrets.token_urlsafe(48)
    async with database("small") as database_url:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PRESTA_", "BENCH_"))}
        presta_env = {
            **base,
            "PRESTA_DATABASE_URL": database_url,
            "PRESTA_SECRET_KEY": secret,
            "PRESTA_LOG_LEVEL": "WARNING",
            **UNLIMITED,
            "PRESTA_MAIL_ENABLED": "false",
            "PRESTA_STORAGE_DIR": str(ROOT / "var" / "bench-storage"),
        }
        plain_env = {**base, "BENCH_DATABASE_URL": database_url, "BENCH_SECRET": secret}
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "service.cli", "migrate"],
            env=presta_env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
        presta_port, plain_port = free_port(), free_port()
        presta_cmd = [sys.executable, "-m", "service.cli", "serve", "--port", str(presta_port)]
        plain_cmd = [
            *(sys.executable, "-m", "uvicorn", "bench._plain_app:app"),
            *("--host", "127.0.0.1", "--port", str(plain_port)),
            *("--log-level", "warning", "--no-access-log"),
        ]
        with (
            listening(presta_cmd, presta_env, presta_port) as presta_server,
            listening(plain_cmd, plain_env, plain_port) as plain_server,
        ):
            token = await _sign_up(presta_port)
            figures = {}
            for label, port, pid in (
                ("plain", plain_port, plain_server.pid),
                ("presta", presta_port, presta_server.pid),
            ):
                await _load(port, token, WARM_UP_SECONDS)
                with profiled(pid, f"small-query-{label}"):
                    figures[label] = await _load(port, token, SECONDS)
    plain_rps, plain_ms, plain_body = figures["plain"]
    presta_rps, presta_ms, presta_body = figures["presta"]
    presta_answer = orjson.loads(presta_body)
    executor = presta_answer.pop("extensions", {}).get("executor", "?")
    if orjson.loads(plain_body) != presta_answer:
        raise RuntimeError(f"bodies differ: {plain_body!r} vs {presta_body!r}")
    return [
        Row("plain Starlette + asyncpg, viewer query", plain_rps, "req/s"),
        Row(f"presta ({executor} executor), viewer query", presta_rps, "req/s", plain_rps),
        Row("plain, median latency", plain_ms, "ms"),
        Row("presta, median latency", presta_ms, "ms", plain_ms),
    ]


if __name__ == "__main__":
    from bench import main

    sys.exit(main(["small_query"]))
