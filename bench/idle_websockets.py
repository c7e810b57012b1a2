"""Server memory per idle subscribed websocket, at 1k, 5k and 10k connections, and one event
delivered to every one of them.

Presta runs as a ``presta serve`` process on a fresh PostgreSQL database; each connection does
``connection_init`` (bearer token) and subscribes to ``viewerUpdated``, then stays idle. The
figure is the growth of the server's resident memory (VmRSS) divided by the connections added,
after 50 warm-up connections. The baseline is the same figure for the plain relay
(``bench/_relay.py``: a bare websocket waiting on a bounded queue, no GraphQL). With every
connection open, one profile change is made and each Presta socket must receive its event.
All connections are of one user (one cohort: ``schema/http/cohort.py``).

    python -m bench idle_websockets     BENCH_IDLE_COUNTS=1000,5000,10000 by default
                                        BENCH_IDLE_COMPRESSION=deflate (as browsers do; none)
"""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import UNLIMITED, Row
from bench._servers import ROOT, database, free_port, listening
from bench.fanout import private_redis
from bench.small_query import _sign_up

COUNTS = [int(n) for n in os.environ.get("BENCH_IDLE_COUNTS", "1000,5000,10000").split(",")]
WARM_UP = 50
# Browsers offer permessage-deflate; "deflate" measures what the server then keeps per socket.
COMPRESSION = os.environ.get("BENCH_IDLE_COMPRESSION") or None
TARGET_KIB = 32


def _raise_file_limit() -> None:
    """Each connection is a descriptor here and one in the server (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * max(COUNTS) + 1024
    if soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def _rss_kib(port: int) -> int:
    """Resident memory of the process listening on ``port`` (found through /proc)."""
    inode = _listening_inode(port)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    status = Path(f"/proc/{pid}/status").read_text()
                    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
                    return int(line.split()[1])
            except OSError:
                continue
    raise RuntimeError(f"no process found listening on {port}")


def _listening_inode(port: int) -> str:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            return fields[9]
    raise RuntimeError(f"nothing listens on {port}")


async def _open(
    url: str, count: int, greet: Callable[[Any], Awaitable[None]], protocols: list[Any] | None
) -> list[Any]:
    from websockets.asyncio.client import connect

    async def one() -> Any:
        ws = await connect(url, subprotocols=protocols, compression=COMPRESSION, ping_interval=None)
        await greet(ws)
        return ws

    sockets: list[Any] = []
    for start in range(0, count, 100):
        sockets += await asyncio.gather(*(one() for _ in range(min(100, count - start))))
    return sockets


async def _per_connection(
    url: str,
    port: int,
    greet: Callable[[Any], Awaitable[None]],
    protocols: list[Any] | None,
    probe: Callable[[list[Any]], Awaitable[None]] | None = None,
) -> list[float]:
    """KiB of server memory per idle connection, at each of COUNTS (then ``probe`` runs with
    every socket open)."""
    sockets = await _open(url, WARM_UP, greet, protocols)
    await asyncio.sleep(1)
    before = _rss_kib(port)
    figures = []
    try:
        for count in COUNTS:
            sockets += await _open(url, count - (len(sockets) - WARM_UP), greet, protocols)
            await asyncio.sleep(2)
            figures.append((_rss_kib(port) - before) / count)
        if probe is not None:
            await probe(sockets)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return figures


async def run() -> list[Row]:
    _raise_file_limit()
    probed: list[float] = []
    namespace = f"presta-bench-{uuid.uuid4().hex[:8]}"
    with private_redis() as redis_url:
        async with database("idle") as database_url:
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
            with (
                listening(presta_cmd, presta_env, presta_port),
                listening(relay_cmd, relay_env, relay_port),
            ):
                token = await _sign_up(presta_port)

                async def presta_greet(ws: Any) -> None:
                    init = {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {token}"},
                    }
                    await ws.send(orjson.dumps(init).decode())
                    if orjson.loads(await ws.recv())["type"] != "connection_ack":
                        raise RuntimeError("websocket refused")
                    subscribe = {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": "subscription { viewerUpdated { cursor } }"},
                    }
                    await ws.send(orjson.dumps(subscribe).decode())

                async def relay_greet(ws: Any) -> None:
                    return None

                async def presta_probe(sockets: list[Any]) -> None:
                    probed.extend(await _one_event_to_all(presta_port, token, sockets))

                relay = await _per_connection(
                    f"ws://127.0.0.1:{relay_port}/ws", relay_port, relay_greet, None
                )
                presta = await _per_connection(
                    f"ws://127.0.0.1:{presta_port}/graphql",
                    presta_port,
                    presta_greet,
                    ["graphql-transport-ws"],
                    presta_probe,
                )
    delivered, seconds = probed
    return [
        Row(
            f"{count:,} idle subscribed websockets: server memory each (target <= {TARGET_KIB})",
            figure,
            "KiB",
            baseline,
        )
        for count, figure, baseline in zip(COUNTS, presta, relay, strict=True)
    ] + [
        Row(f"{max(COUNTS):,} subscribed websockets: one event delivered to", delivered, "%"),
        Row(f"{max(COUNTS):,} subscribed websockets: last of them received after", seconds, "ms"),
    ]


async def _one_event_to_all(port: int, token: str, sockets: list[Any]) -> tuple[float, float]:
    """Change the profile once; (percent of the sockets whose ``next`` came, ms to the last)."""
    mutation = 'mutation { updateProfile(input: {fullName: "Probe"}) { userErrors { code } } }'
    started = time.perf_counter()

    async def receipt(ws: Any) -> float | None:
        try:
            while True:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                if message.get("type") == "next":
                    return time.perf_counter()
        except Exception:
            return None

    waiting = [asyncio.create_task(receipt(ws)) for ws in sockets]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        headers = {"Authorization": f"Bearer {token}"}
        response = await client.post("/graphql", json={"query": mutation}, headers=headers)
        response.raise_for_status()
    times = [t for t in await asyncio.gather(*waiting) if t is not None]
    last = (max(times) - started) * 1000 if times else float("nan")
    return (100 * len(times) / len(sockets), last)


if __name__ == "__main__":
    from bench import main

    sys.exit(main(["idle_websockets"]))
