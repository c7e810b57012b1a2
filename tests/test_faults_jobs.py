"""Jobs survive faults: a job asked for while Redis is down runs once Redis is back, and a
worker SIGKILLed in the middle of a job leaves exactly one effect after redelivery.

Real `presta worker` processes; the Redis of the outage test is a private redis-server on a
free port (the machine's Redis is never stopped).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from models.document import CommissionInvoice
from models.intervention import Intervention, InterventionStatus
from models.job import JobOutbox
from presta import clock, jobs
from presta.settings import get_settings
from presta.tx import atomic
from resolvers.invitation import invite_providers
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff
from tests.factories.catalog import make_service
from tests.factories.membership import make_membership
from tests.support.dramatiq_redis import forget_keys, requeue_dead_workers_messages
from tests.support.polling import wait_for
from tests.support.redis_server import RedisServer
from tests.support.this_run import SERVERS

ROOT = Path(__file__).resolve().parents[1]


class Worker:
    """A real `presta worker` on this run's database, a Redis and a namespace of its own."""

    def __init__(self, redis_url: str, namespace: str, log: Path) -> None:
        self.env = {
            **os.environ,
            "PRESTA_JOBS_BACKEND": "dramatiq",
            "PRESTA_REDIS_URL": redis_url,
            "PRESTA_REDIS_NAMESPACE": namespace,
            "PRESTA_WORKER_TIMEOUT_MS": "50",
            "PRESTA_LOG_LEVEL": "INFO",
            "PRESTA_DB_POOL_MAX": "4",
            # dramatiq waits 3 s by default before restarting a consumer whose Redis dropped.
            "dramatiq_restart_delay": "200",
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        started = (
            self.log.read_text(errors="replace").count("worker started") if self.log.exists() else 0
        )
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "worker", "--threads", "2"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while self.log.read_text(errors="replace").count("worker started") <= started:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "worker did not start in 30 s"
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _settings_restored(monkeypatch) -> Iterator[None]:
    """The tests below point this process at another Redis: the next tests must not be."""
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _enqueue_here(monkeypatch, redis_url: str, namespace: str) -> None:
    """This process now enqueues to the worker's queues."""
    monkeypatch.setenv("PRESTA_JOBS_BACKEND", "dramatiq")
    monkeypatch.setenv("PRESTA_REDIS_URL", redis_url)
    monkeypatch.setenv("PRESTA_REDIS_NAMESPACE", namespace)
    get_settings.cache_clear()


async def test_the_jobs_of_a_change_are_written_with_it_and_cleared_once_enqueued(mailbox):
    marketplace = await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)

    async def failing_change() -> None:
        async with atomic() as tx:
            tx.enqueue("send_invitation_email", invitation_id=1)
            assert await JobOutbox.all().count() == 0  # written only when the block ends
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await JobOutbox.all().count() == 0

    await invite_providers(staff, emails=["one@example.com"])
    await jobs.drain()
    assert await JobOutbox.all().count() == 0
    assert len(mailbox.to("one@example.com")) == 1


async def test_a_job_asked_for_while_redis_is_down_runs_once_redis_is_back(
    private_redis, tmp_path, mailbox, monkeypatch
):
    namespace = f"{os.environ['PRESTA_REDIS_NAMESPACE']}-outage"
    marketplace = await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    worker = Worker(private_redis.url, namespace, tmp_path / "worker.log").start()
    try:
        _enqueue_here(monkeypatch, private_redis.url, namespace)
        await invite_providers(staff, emails=["before@example.com"])
        await wait_for(lambda: mailbox.to("before@example.com"), within=10)

        private_redis.stop()
        started = time.perf_counter()
        invitations, rejected = await invite_providers(staff, emails=["during@example.com"])
        assert time.perf_counter() - started < 2, "the mutation waited for the dead queue"
        assert rejected == []
        assert len(invitations) == 1  # committed
        pending = await JobOutbox.all()
        assert [(j.actor_name, j.kwargs) for j in pending] == [
            ("send_invitation_email", {"invitation_id": invitations[0].id})
        ]

        private_redis.start()
        # The relay leaves young rows alone (their own process may still enqueue them):
        # pretend that time has passed, as the worker runs on the real clock.
        await JobOutbox.all().update(retry_at=clock.now() - timedelta(seconds=1))
        await jobs.enqueue("relay_job_outbox")  # what the scheduler's next tick does
        await wait_for(lambda: mailbox.to("during@example.com"), within=20)
        await wait_for(lambda: _outbox_empty(), within=5)
        await asyncio.sleep(1.0)  # a duplicate would show up now
        assert len(mailbox.to("during@example.com")) == 1
        assert len(mailbox.to("before@example.com")) == 1
    finally:
        worker.stop()


async def _outbox_empty() -> bool:
    return not await JobOutbox.exists()


PROVIDERS = 60


async def _invoiced() -> int:
    return await CommissionInvoice.filter(year=2026, month=3).count()


async def test_a_worker_killed_mid_invoicing_is_redelivered_and_invoices_each_provider_once(
    tmp_path,
):
    namespace = f"{os.environ['PRESTA_REDIS_NAMESPACE']}-kill-invoices"
    marketplace = await make_marketplace()
    client = await make_client(marketplace)
    service = await make_service(marketplace)
    members = [await make_membership(marketplace) for _ in range(PROVIDERS)]
    starts = datetime(2026, 3, 10, 9, tzinfo=UTC)
    await Intervention.bulk_create(
        [
            Intervention(
                marketplace_id=marketplace.id,
                membership_id=m.id,
                client_id=client.id,
                service_id=service.id,
                status=InterventionStatus.DONE,
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                price=Decimal("100.00"),
                commission_rate=Decimal("15.00"),
            )
            for m in members
        ]
    )
    log = tmp_path / "workers.log"
    first = Worker(SERVERS.redis_url, namespace, log).start()
    second = None
    try:
        RedisBroker(url=SERVERS.redis_url, namespace=f"{namespace}-dramatiq").enqueue(  # type: ignore[no-untyped-call]
            dramatiq.Message(
                queue_name=jobs.QUEUE,
                actor_name="build_commission_invoices",
                args=(),
                kwargs={"year": 2026, "month": 3},
                options={},
            )
        )
        await wait_for(_invoiced, within=30, interval=0.005)
        first.kill()
        done_before = await _invoiced()
        assert 0 < done_before < PROVIDERS, "the job was not caught mid-way"

        # dramatiq's queue maintenance gives back a dead worker's unacknowledged message once
        # its heartbeat is older than the timeout (60 s by default, shortened here).
        await asyncio.sleep(0.6)
        requeue_dead_workers_messages(SERVERS.redis_url, namespace)

        second = Worker(SERVERS.redis_url, namespace, log).start()
        await wait_for(lambda: _all_invoiced(), within=60, interval=0.05)
        await asyncio.sleep(1.0)  # a duplicate would show up now

        invoices = await CommissionInvoice.filter(year=2026, month=3).values_list(
            "membership_id", "number"
        )
        assert sorted(m for m, _ in invoices) == sorted(m.id for m in members)
        assert sorted(n for _, n in invoices) == list(range(1, PROVIDERS + 1))  # no gap
    finally:
        first.kill()
        if second is not None:
            second.stop()
        forget_keys(SERVERS.redis_url, namespace)


async def _all_invoiced() -> bool:
    return await _invoiced() == PROVIDERS
