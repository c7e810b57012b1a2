"""`presta worker` on real Redis runs the jobs the API enqueues, and starts them fast when idle."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from models.events import Event
from presta import clock, jobs
from presta.settings import get_settings
from tests.support.dramatiq_redis import forget_keys
from tests.support.this_run import SERVERS

ROOT = Path(__file__).resolve().parents[1]
IDLE_SECONDS = 1.5
MAX_START_LATENCY = 0.2


@pytest.fixture
def worker(tmp_path, monkeypatch) -> Iterator[subprocess.Popen[bytes]]:
    """A real `presta worker` on this run's database and a namespace of its own in Redis."""
    namespace = f"{os.environ['PRESTA_REDIS_NAMESPACE']}-w"
    env = {
        **os.environ,
        "PRESTA_JOBS_BACKEND": "dramatiq",
        "PRESTA_REDIS_NAMESPACE": namespace,
        "PRESTA_WORKER_TIMEOUT_MS": "50",
        "PRESTA_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker", "--threads", "2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "worker started" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "worker did not start in 30 s"
            time.sleep(0.05)
        # This process now enqueues to the worker's queues.
        monkeypatch.setenv("PRESTA_JOBS_BACKEND", "dramatiq")
        monkeypatch.setenv("PRESTA_REDIS_NAMESPACE", namespace)
        get_settings.cache_clear()
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        monkeypatch.undo()
        get_settings.cache_clear()
        forget_keys(SERVERS.redis_url, namespace)


async def _old_and_fresh_events() -> tuple[Event, Event]:
    old = await Event.create(topic="t", object_type="X", object_id=1, audience=[])
    fresh = await Event.create(topic="t", object_type="X", object_id=2, audience=[])
    long_ago = clock.now() - timedelta(days=get_settings().event_retention_days + 1)
    await Event.filter(id=old.id).update(created_at=long_ago)
    return old, fresh


async def _seconds_until_purged(event: Event, within: float = 10.0) -> float:
    started = time.perf_counter()
    await jobs.enqueue("purge_expired_events")
    while await Event.exists(id=event.id):
        assert time.perf_counter() - started < within, "the worker did not run the job"
        await asyncio.sleep(0.002)
    return time.perf_counter() - started


async def test_the_worker_runs_a_job_enqueued_by_the_api_process(worker):
    old, fresh = await _old_and_fresh_events()
    await _seconds_until_purged(old)
    assert await Event.exists(id=fresh.id)
    assert worker.poll() is None


async def test_a_job_starts_quickly_after_the_worker_has_been_idle(worker, capsys):
    warm_old, _ = await _old_and_fresh_events()
    await _seconds_until_purged(warm_old)
    # Real idle time: the consumer backs off its polling up to worker_timeout (50 ms).
    await asyncio.sleep(IDLE_SECONDS)
    old, _ = await _old_and_fresh_events()
    latency = await _seconds_until_purged(old)
    with capsys.disabled():
        print(
            f"\n[workers] job start-to-effect latency after {IDLE_SECONDS:.1f}s idle: "
            f"{latency * 1000:.0f} ms (worker_timeout 50 ms)"
        )
    assert latency < MAX_START_LATENCY
