"""The scheduler: every minute, enqueue the sweeps that act on deadlines stored in the database.

Several schedulers may run: every job they enqueue is idempotent.
"""

from __future__ import annotations

import asyncio
import logging

from presta import jobs

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60
# Actor names enqueued on every tick; each acts only on what is due.
PERIODIC_JOBS = [
    "relay_job_outbox",
    "purge_expired_events",
    "purge_expired_idempotency_keys",
    "sweep_dispatch_deadlines",
    "build_commission_invoices",
    "sweep_webhooks",
    "sweep_notifications",
    "sweep_terms_grace_periods",
]


async def tick() -> None:
    for name in PERIODIC_JOBS:
        await jobs.enqueue(name)


async def run_periodic(interval: float = INTERVAL_SECONDS) -> None:
    while True:
        try:
            await tick()
        except Exception:
            log.exception("scheduler tick failed; retrying next interval")
        await asyncio.sleep(interval)
