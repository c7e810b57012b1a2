"""What the benchmarks share: the servers they reach or start, and how they read a process.

Databases are created for one run and dropped after it; subprocesses are always terminated;
every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tests.support import servers
from tests.support.processes import free_port as free_port  # the benchmarks take it from here
from tests.support.processes import stop

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _servers() -> servers.Servers:
    """The machine's PostgreSQL and Redis (or those of PRESTA_BENCH_*_URL) when they answer,
    else private ones for this run, from the installed packages (service.embedded)."""
    pg = os.environ.get("PRESTA_BENCH_DATABASE_URL", servers.DEFAULT_PG)
    redis = os.environ.get("PRESTA_BENCH_REDIS_URL", servers.DEFAULT_REDIS)
    pg_ok, redis_ok = servers.answers(pg, redis)
    found = servers.start_missing(pg if pg_ok else None, redis if redis_ok else None, options={})
    for server in found.private:
        # Figures on a private server are not those of the machine's: say so.
        name = type(server).__name__
        print(f"bench: none answered; a private {name} in {server.directory}", file=sys.stderr)
    return found


def admin_url() -> str:
    """A PostgreSQL superuser URL (benchmarks create databases)."""
    return _servers().admin_url


def redis_url() -> str:
    return _servers().redis_url


def database_url(name: str) -> str:
    return urlsplit(admin_url())._replace(path=f"/{name}").geturl()


@contextlib.asynccontextmanager
async def database(prefix: str) -> AsyncIterator[str]:
    """A new empty database for this run, dropped afterwards."""
    import asyncpg

    name = f"presta_bench_{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield database_url(name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.contextmanager
def _logged(args: list[str], env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A subprocess whose output goes to a file (a pipe nobody reads would block a chatty
    server once full), stopped and its log removed at the end."""
    log = Path(f"/tmp/presta-bench-{uuid.uuid4().hex[:6]}.log")
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        yield process, log
    finally:
        stop(process)
        log.unlink(missing_ok=True)


@contextlib.contextmanager
def listening(args: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A server subprocess, accepting connections on ``port`` within 30 s."""
    with _logged(args, env) as (process, log):
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{args[2]} exited: {log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not listen on {port} within 30 s")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        yield process


@contextlib.contextmanager
def presta(
    args: list[str], env: dict[str, str], ready: str | None = None, times: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    """``presta <args>``, ready once its log shows ``ready`` ``times`` times (within 60 s)."""
    with _logged([sys.executable, "-m", "service.cli", *args], env) as (process, log):
        deadline = time.monotonic() + 60
        while ready is not None and log.read_text(errors="replace").count(ready) < times:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"presta {args[0]} failed: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield process


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = _family(pid)
    return sum((int(fields[11]) + int(fields[12])) / tick for fields in stats.values())


def process_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each of these processes still running, children apart."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{pid}/stat").read_text()
            fields = text[text.rindex(")") + 2 :].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def _family(pid: int) -> dict[int, list[str]]:
    """The ``/proc/<pid>/stat`` fields (after the name) of a process and its descendants."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                text = (entry / "stat").read_text()
                stats[int(entry.name)] = text[text.rindex(")") + 2 :].split()
    family = {pid}
    changed = True
    while changed:
        changed = False
        for child, fields in stats.items():
            if child not in family and int(fields[1]) in family:
                family.add(child)
                changed = True
    return {member: stats[member] for member in family if member in stats}


def machine_jiffies() -> tuple[int, int]:
    """Busy and total CPU time of the whole machine so far, all cores (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU (all cores) that was busy between two readings."""
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def family_rss_mib(pid: int) -> float:
    """The resident memory of a process and its descendants (``serve --workers``)."""
    total = 0.0
    for member in _family(pid):
        with contextlib.suppress(OSError, StopIteration):
            total += rss_mib(member)
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def http_post(port: int, path: str, body: bytes, **headers: str) -> bytes:
    """A keep-alive HTTP/1.1 POST of a JSON body, as bytes (built once, sent many times)."""
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> bytes:
    """Send one request on a keep-alive connection; the body of its 200 answer."""
    status, head, body = await answered(reader, writer, request)
    if status != 200:
        raise RuntimeError(f"unexpected response: {head[:200]!r}")
    return body


async def answered(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bytes]:
    """Send one request on a keep-alive connection; its answer's status, head and body."""
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    body = await asyncio.wait_for(reader.readexactly(length), timeout=30)
    return int(head[9:12]), head, body
