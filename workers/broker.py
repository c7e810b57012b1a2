"""The dramatiq broker, set up before any actor module is imported."""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

from presta import db
from presta.jobs import dramatiq_namespace
from presta.settings import settings


class TortoiseInWorker(Middleware):
    """Actors run on AsyncIO's loop thread: Tortoise must be initialised on that loop."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(db.init_db())

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(asyncio.wait_for(db.close_db(), timeout=5))


def _make_broker() -> dramatiq.Broker:
    cfg = settings()
    broker: dramatiq.Broker = (
        RedisBroker(url=cfg.redis_url, namespace=dramatiq_namespace())  # type: ignore[no-untyped-call]
        if cfg.jobs_backend == "dramatiq"
        else StubBroker()
    )
    broker.add_middleware(AsyncIO())
    broker.add_middleware(TortoiseInWorker())
    dramatiq.set_broker(broker)
    return broker


broker = _make_broker()
