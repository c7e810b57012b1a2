"""Enqueue background jobs by name, after commit, through an outbox.

With ``jobs_backend=dramatiq`` the message goes to Redis for ``presta worker``; in the embedded
default the same actor function runs as a task of the API process. A use case's jobs are first
written to ``JobOutbox`` in its transaction; a job the queue did not take (Redis down, process
killed after the commit) stays there until ``relay_pending`` hands it again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from models.job import JobOutbox
from presta import clock
from presta.settings import settings

QUEUE = "default"
log = logging.getLogger(__name__)
_tasks: set[asyncio.Task[None]] = set()
# The async function behind each actor, by name: ``workers`` fills it as it declares them, so
# that this module names no use case.
_functions: dict[str, Callable[..., Awaitable[None]]] = {}
# Left alone this long, a pending row is presumed lost by the process that wrote it (not merely
# in flight between its commit and its enqueue).
RELAY_AFTER = timedelta(seconds=30)


def register(name: str, fn: Callable[..., Awaitable[None]]) -> None:
    """Make ``fn`` the job called ``name`` when it runs in this process."""
    _functions[name] = fn


async def enqueue(actor_name: str, **kwargs: Any) -> None:
    if settings().jobs_backend == "dramatiq":
        import dramatiq

        broker = _broker()
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=QUEUE, actor_name=actor_name, args=(), kwargs=kwargs, options={}
        )
        # dramatiq's enqueue is blocking I/O: keep it off the event loop.
        await asyncio.to_thread(broker.enqueue, message)
        return
    task = asyncio.get_running_loop().create_task(_run_inline(actor_name, kwargs))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def record(jobs: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """Write the jobs to the outbox, in the caller's transaction."""
    retry_at = clock.now() + RELAY_AFTER
    rows = [
        await JobOutbox.create(actor_name=name, kwargs=kwargs, retry_at=retry_at)
        for name, kwargs in jobs
    ]
    return [row.id for row in rows]


async def hand_over(outbox_ids: list[int], jobs: list[tuple[str, dict[str, Any]]]) -> int:
    """Enqueue committed jobs and drop their outbox rows; a failure leaves the row to the sweep."""
    taken: list[int] = []
    for outbox_id, (name, kwargs) in zip(outbox_ids, jobs, strict=True):
        try:
            await enqueue(name, **kwargs)
        except Exception as exc:
            log.warning("job %s left in the outbox (%s): the sweep will enqueue it", name, exc)
            continue
        taken.append(outbox_id)
    if taken:
        try:
            await JobOutbox.filter(id__in=taken).delete()
        except Exception:
            log.warning("outbox rows %s not cleared: they may be enqueued twice", taken)
    return len(taken)


async def relay_pending(limit: int = 500) -> int:
    """Enqueue the outbox rows left pending; a concurrent relay cannot take the same row."""
    now = clock.now()
    pending = await JobOutbox.filter(retry_at__lte=now).order_by("id").limit(limit)
    relayed = 0
    for row in pending:
        claimed = await JobOutbox.filter(id=row.id, retry_at=row.retry_at).update(
            retry_at=now + RELAY_AFTER, attempts=row.attempts + 1
        )
        if not claimed:
            continue
        try:
            await enqueue(row.actor_name, **row.kwargs)
        except Exception as exc:
            log.warning("outbox relay stopped: the queue is unavailable (%s)", exc)
            break
        await JobOutbox.filter(id=row.id).delete()
        relayed += 1
    if relayed:
        log.info("relayed %d pending jobs from the outbox", relayed)
    return relayed


async def drain() -> None:
    """Wait for in-process jobs (tests and shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


async def _run_inline(actor_name: str, kwargs: dict[str, Any]) -> None:
    fn = _functions.get(actor_name)
    if fn is None:
        log.error("job %s has no registered function: import workers.actors first", actor_name)
        return
    try:
        await fn(**kwargs)
    except Exception:
        log.exception("job %s failed", actor_name)


def dramatiq_namespace() -> str:
    """Redis key prefix of the job queues, shared by producers and ``presta worker``."""
    return f"{settings().redis_namespace}-dramatiq"


def _broker() -> Any:
    cfg = settings()
    return _producer(cfg.redis_url, dramatiq_namespace())


@functools.cache
def _producer(url: str, namespace: str) -> Any:
    """A broker that only enqueues: the API needs no actors nor worker middleware."""
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]
