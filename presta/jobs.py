"""Enqueue background jobs by name, after commit.

With ``jobs_backend=dramatiq`` the message goes to Redis for ``presta worker``; in the embedded
default the same actor function runs as a task of the API process.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
from typing import Any

from presta.settings import settings

QUEUE = "default"
log = logging.getLogger(__name__)
_tasks: set[asyncio.Task[None]] = set()


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


async def drain() -> None:
    """Wait for in-process jobs (tests and shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


async def _run_inline(actor_name: str, kwargs: dict[str, Any]) -> None:
    actor = getattr(importlib.import_module("workers.actors"), actor_name)
    # dramatiq wraps async actors to run on its own loop thread; here we are on the API's loop.
    fn = getattr(actor.fn, "__wrapped__", actor.fn)
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
