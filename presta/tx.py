"""One transaction per use case, with work that must only happen after it commits."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tortoise.transactions import in_transaction

from presta import events, jobs

_current: contextvars.ContextVar[AfterCommit | None] = contextvars.ContextVar(
    "after_commit", default=None
)


class AfterCommit:
    """Envelopes to publish and jobs to enqueue once the transaction has committed."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.jobs: list[tuple[str, dict[str, Any]]] = []
        # Marketplaces whose webhook endpoints were looked up in this transaction
        # (``resolvers.events``).
        self.webhooks_checked: set[int] = set()
        self._outbox_ids: list[int] = []

    def publish(self, envelope: dict[str, Any]) -> None:
        self.envelopes.append(envelope)

    def enqueue(self, actor_name: str, **kwargs: Any) -> None:
        self.jobs.append((actor_name, kwargs))

    async def record_jobs(self) -> None:
        """Inside the transaction: the jobs commit with the change, or not at all. Called
        again, it records only the jobs enqueued since (the first event records those before
        it, so as not to hold the event order lock for them)."""
        if len(self.jobs) > len(self._outbox_ids):
            self._outbox_ids += await jobs.record(self.jobs[len(self._outbox_ids) :])

    async def flush(self) -> None:
        await events.publish(*self.envelopes)
        if self.jobs:
            await jobs.hand_over(self._outbox_ids, self.jobs)


@asynccontextmanager
async def atomic() -> AsyncIterator[AfterCommit]:
    """Run the block in one transaction; a nested block joins the outer one."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    hooks = AfterCommit()
    token = _current.set(hooks)
    try:
        async with in_transaction():
            yield hooks
            await hooks.record_jobs()
    finally:
        _current.reset(token)
    await hooks.flush()
