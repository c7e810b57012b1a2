"""Live events between API processes: small JSON envelopes over broadcaster (memory or Redis).

Events are stored before they are published (see ``resolvers.event``); what travels here is
only the envelope (event id, topic, audience, object ids), so a subscriber that misses one can
fill the gap from the database.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from broadcaster import Broadcast

from presta.settings import settings

log = logging.getLogger(__name__)

_broadcast: Broadcast | None = None


def channel() -> str:
    return f"{settings().redis_namespace}.events"


def _url() -> str:
    url = settings().broadcast_url
    if url == "redis" or (url.startswith("redis") and "://" not in url):
        return settings().redis_url
    return url


async def connect() -> None:
    global _broadcast
    if _broadcast is None:
        _broadcast = Broadcast(_url())
        await _broadcast.connect()


async def disconnect() -> None:
    global _broadcast
    if _broadcast is not None:
        await _broadcast.disconnect()
        _broadcast = None


async def publish(envelope: dict[str, Any]) -> None:
    """Publish after commit; a failure is logged, never raised (the event log has it)."""
    if _broadcast is None:
        return
    try:
        await _broadcast.publish(channel(), orjson.dumps(envelope).decode())
    except Exception:
        log.warning(
            "event publish failed; subscribers will catch up from the event log", exc_info=True
        )


@asynccontextmanager
async def listen() -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """Yield an iterator of envelopes published from now on, by any process."""
    if _broadcast is None:
        await connect()
    assert _broadcast is not None
    async with _broadcast.subscribe(channel()) as subscriber:

        async def envelopes() -> AsyncIterator[dict[str, Any]]:
            async for message in subscriber:  # type: ignore[union-attr]
                if message is None:
                    return
                yield orjson.loads(message.message)

        yield envelopes()
