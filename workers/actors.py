"""Actors: one-line wrappers around async use cases; they take ids and are idempotent."""

from __future__ import annotations

import dramatiq

from workers.broker import broker  # noqa: F401  (the broker must exist before actors)

from resolvers import housekeeping  # isort: skip


@dramatiq.actor(max_retries=5)
async def purge_expired_events() -> None:
    await housekeeping.purge_expired_events()
