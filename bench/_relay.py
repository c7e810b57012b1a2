"""The reference for bench/fanout.py: a plain Redis-to-websocket relay, no GraphQL.

Same shape as Presta's live path (one Redis subscription per process, fan-out to local
websockets through bounded queues) with nothing else: every message on the channel is sent
as-is to every connected websocket.

    BENCH_REDIS_URL=redis://... BENCH_CHANNEL=... uvicorn bench._relay:app
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

_queues: set[asyncio.Queue[str]] = set()


async def _pump() -> None:
    client = Redis.from_url(os.environ["BENCH_REDIS_URL"])
    pubsub = client.pubsub()
    await pubsub.subscribe(os.environ["BENCH_CHANNEL"])
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        text = message["data"].decode()
        for queue in list(_queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(text)


async def relay(websocket: WebSocket) -> None:
    await websocket.accept()
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=256)
    _queues.add(queue)
    try:
        while True:
            await websocket.send_text(await queue.get())
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        _queues.discard(queue)


@contextlib.asynccontextmanager
async def _lifespan(_: Starlette) -> AsyncIterator[None]:
    task = asyncio.create_task(_pump())
    yield
    task.cancel()


app = Starlette(routes=[WebSocketRoute("/ws", relay)], lifespan=_lifespan)
