"""Redis as the worker tests leave it: their keys, and the messages of a killed worker."""

from __future__ import annotations

import redis
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker

from presta import jobs


def forget_keys(url: str, namespace: str) -> None:
    """Delete every key of a test's namespace (Presta's and dramatiq's)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def requeue_dead_workers_messages(url: str, namespace: str) -> None:
    """Give back the unacknowledged messages of a worker silent for over 0.5 s.

    dramatiq's queue maintenance does it once a worker's heartbeat is older than its timeout
    (60 s by default); a broker with a 0.5 s timeout runs it now, so a test need not wait a
    minute. Call it at least 0.6 s after the kill.
    """
    janitor = RedisBroker(  # type: ignore[no-untyped-call]
        url=url,
        namespace=f"{namespace}-dramatiq",
        heartbeat_timeout=500,
        maintenance_chance=MAINTENANCE_SCALE,
    )
    janitor.declare_queue(jobs.QUEUE)
    janitor.do_qsize(jobs.QUEUE)
