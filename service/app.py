"""The API process: the ASGI application of ``schema.http`` with what starts and stops around it.

Starting: the database pools, the live event bus, the process's full garbage collections and, in
the embedded default (jobs run in-process), the periodic sweep and the jobs' functions. Stopping
waits for in-process jobs before closing the bus and the pools.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.types import ASGIApp

from presta import db, events, i18n, jobs
from presta.settings import settings
from schema.http import app as http
from service.collector import FullCollections


@contextlib.asynccontextmanager
async def _sweeping() -> AsyncIterator[None]:
    from workers.scheduler import run_periodic

    sweeper = asyncio.create_task(run_periodic())
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper


@contextlib.asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    await db.init_db()
    await events.connect()
    # Compiled now rather than by the first French message a client is sent (~0.2 s).
    i18n.preload()
    collections = FullCollections.from_settings()
    collections.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            if settings().jobs_backend == "inline":
                await stack.enter_async_context(_sweeping())
            yield
    finally:
        await jobs.drain()
        await events.disconnect()
        await db.close_db()
        await collections.stop()


def create_app() -> ASGIApp:
    # The jobs of the embedded default run in this process: their functions must be known.
    import workers.actors  # noqa: F401

    return http.create_app(lifespan=lifespan)
