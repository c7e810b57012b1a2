"""A worker killed in the middle of the sweep: the message is redelivered and every due request
gets exactly one reminder round (real `presta worker` processes, real Redis and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from models.dispatch import DispatchJob, RequestRound, ServiceRequest
from presta import clock, jobs
from tests.factories.dispatch import make_world
from tests.support.dramatiq_redis import forget_keys, requeue_dead_workers_messages
from tests.support.polling import wait_for
from tests.support.this_run import SERVERS

ROOT = Path(__file__).resolve().parents[1]
DUE = 150


def _start_worker(namespace: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PRESTA_JOBS_BACKEND": "dramatiq",
        "PRESTA_REDIS_NAMESPACE": namespace,
        "PRESTA_WORKER_TIMEOUT_MS": "50",
        "PRESTA_LOG_LEVEL": "INFO",
    }
    out = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--threads", "2"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while log.read_text(errors="replace").count("worker started") < _STARTED[0] + 1:
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "worker did not start in 30 s"
        time.sleep(0.05)
    _STARTED[0] += 1
    return process


_STARTED = [0]  # workers started so far in this test's log


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


async def _second_rounds(ids: list[int]) -> int:
    return await RequestRound.filter(request_id__in=ids, number=2).count()


async def test_a_worker_killed_mid_sweep_is_redelivered_and_acts_once(tmp_path, mailbox):
    namespace = f"{os.environ['PRESTA_REDIS_NAMESPACE']}-kill"
    world = await make_world(providers=1, days_before_reminder=2, max_reminder_rounds=3)
    ids = [await world.request(description=f"silent {n}") for n in range(DUE)]
    await jobs.drain()
    mailbox.clear()
    # The worker's clock is the real one: make the reminders due in the database itself.
    await ServiceRequest.filter(id__in=ids).update(remind_at=clock.now() - timedelta(minutes=1))

    broker = RedisBroker(url=SERVERS.redis_url, namespace=f"{namespace}-dramatiq")  # type: ignore[no-untyped-call]
    log = tmp_path / "workers.log"
    _STARTED[0] = 0
    first = _start_worker(namespace, log)
    second = None
    try:
        broker.enqueue(
            dramatiq.Message(
                queue_name=jobs.QUEUE,
                actor_name="sweep_dispatch_deadlines",
                args=(),
                kwargs={},
                options={},
            )
        )
        await wait_for(lambda: _second_rounds(ids), within=30, interval=0.005)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        done_before = await _second_rounds(ids)
        assert 0 < done_before < DUE, "the sweep was not caught mid-way"

        # Redis keeps the killed worker's unacknowledged message; dramatiq's queue maintenance
        # puts it back once the worker's heartbeat is older than the timeout (60 s by default;
        # shortened here so the test does not wait a minute).
        await asyncio.sleep(0.6)
        requeue_dead_workers_messages(SERVERS.redis_url, namespace)

        second = _start_worker(namespace, log)
        await wait_for(lambda: _all_done(ids), within=60, interval=0.05)
        await asyncio.sleep(1.0)  # let any duplicate delivery show itself

        # A kill between a commit and its enqueue leaves the job only in the outbox: the next
        # sweep, once its retry time has come, sends it again.
        await DispatchJob.filter(done_at=None).update(retry_at=clock.now() - timedelta(seconds=1))
        broker.enqueue(
            dramatiq.Message(
                queue_name=jobs.QUEUE,
                actor_name="sweep_dispatch_deadlines",
                args=(),
                kwargs={},
                options={},
            )
        )
        await wait_for(lambda: _jobs_done(), within=30, interval=0.05)
        await asyncio.sleep(1.0)

        rounds = await RequestRound.filter(request_id__in=ids).values_list("request_id", "number")
        assert sorted(rounds) == sorted([(i, n) for i in ids for n in (1, 2)])
        reminders = [m for m in mailbox.to(world.providers[0].email) if "relance" in m["Subject"]]
        # SMTP cannot be part of a transaction: at most the one e-mail in flight at the kill
        # may go twice.
        assert DUE <= len(reminders) <= DUE + 1
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
        forget_keys(SERVERS.redis_url, namespace)


async def _jobs_done() -> bool:
    return not await DispatchJob.filter(done_at=None).exists()


async def _all_done(ids: list[int]) -> bool:
    return await _second_rounds(ids) == len(ids)
