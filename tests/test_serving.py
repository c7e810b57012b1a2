"""``presta serve --workers N``: each worker listens on its own SO_REUSEPORT socket, so a
burst of keep-alive connections is shared between the processes (uvicorn's shared socket
gave all 16 to one of them); a worker that dies is replaced, SIGHUP replaces them all while
the port keeps answering, and SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port, stop
from tests.support.this_run import SERVERS

ROOT = Path(__file__).resolve().parent.parent
BURST = 16
TRIALS = 5


@contextlib.contextmanager
def _two_workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESTA_")}
    env.update(
        PRESTA_ENVIRONMENT="test",
        PRESTA_DATABASE_URL=SERVERS.database_url,
        PRESTA_DB_POOL_MIN="1",
        PRESTA_DB_POOL_MAX="2",
        PRESTA_LOG_LEVEL="WARNING",
        PRESTA_LOG_FORMAT="text",
        PRESTA_MAIL_ENABLED="false",
    )
    log = (tmp_path / "serve.log").open("wb")
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: len(_workers(process.pid)) == 2 and _answers(port), "two workers")
        yield process, port
    finally:
        stop(process)
        log.close()


def _wait_for(predicate: object, what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} within {within:.0f} s"
        time.sleep(0.1)


def _answers(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    return False


def _workers(parent: int) -> set[int]:
    """The worker processes of ``presta serve``: its children started by multiprocessing's
    spawn (not its resource tracker), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                worker = b"spawn_main" in (entry / "cmdline").read_bytes()
                if worker and int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    found.add(int(entry.name))
    return found


def _connections_by_process(port: int) -> collections.Counter[int]:
    """Established connections to ``port``, by the pid that accepted them."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return collections.Counter(
        int(line.split("pid=")[1].split(",")[0]) for line in out.splitlines() if "pid=" in line
    )


async def _burst(port: int) -> collections.Counter[int]:
    """Open BURST connections at once, have each answered, and see where they landed."""
    pairs = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in range(BURST))
    )
    try:
        for _, writer in pairs:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        for reader, _ in pairs:
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        return _connections_by_process(port)
    finally:
        for _, writer in pairs:
            writer.close()


async def test_a_burst_of_connections_is_shared_between_the_workers(tmp_path: Path) -> None:
    with _two_workers(tmp_path) as (process, port):
        workers = _workers(process.pid)
        total: collections.Counter[int] = collections.Counter()
        for _ in range(TRIALS):
            total += await _burst(port)
            await asyncio.sleep(0.2)
    assert set(total) == workers
    # Each worker took its share: with one shared socket, one of them took nearly all.
    assert min(total.values()) >= BURST * TRIALS // 4, dict(total)


async def test_a_worker_that_dies_is_replaced_and_the_port_keeps_answering(
    tmp_path: Path,
) -> None:
    with _two_workers(tmp_path) as (process, port):
        first = _workers(process.pid)
        killed = min(first)
        os.kill(killed, signal.SIGKILL)
        _wait_for(lambda: len(_workers(process.pid) - {killed}) == 2, "replacement worker")
        _wait_for(lambda: len(_workers(process.pid)) == 2, "exit of the killed worker")
        # Every socket has its worker again: no connection is left waiting.
        landed = await _burst(port)
        assert killed not in landed
        assert set(landed) <= _workers(process.pid)


async def test_sighup_replaces_every_worker_while_the_port_keeps_answering(
    tmp_path: Path,
) -> None:
    with _two_workers(tmp_path) as (process, port):
        before = _workers(process.pid)
        answered: list[int] = []
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        # Fresh connections all along: each is accepted by an old or a new worker, none refused.
        while _workers(process.pid) & before or len(_workers(process.pid)) != 2:
            assert time.monotonic() < deadline, "the workers were not replaced in 60 s"
            async with httpx.AsyncClient() as http:
                answered.append((await http.get(f"http://127.0.0.1:{port}/healthz")).status_code)
            await asyncio.sleep(0.02)
        after = _workers(process.pid)
        assert len(after) == 2
        assert not after & before
        assert answered
        assert set(answered) == {200}
        assert len((await _burst(port)).keys() - after) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_parent_stops_every_worker(tmp_path: Path, sig: signal.Signals) -> None:
    with _two_workers(tmp_path) as (process, port):
        workers = _workers(process.pid)
        process.send_signal(sig)
        assert process.wait(timeout=30) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid), f"worker {pid} left"
    assert not _answers(port)


def _state(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return ""
