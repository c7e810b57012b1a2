"""Redis pub/sub for live events: one subscription per process that survives Redis restarts.

broadcaster's Redis backend neither reconnects nor bounds its queues (STACK.md); this one
reconnects with backoff, resubscribes, and orders every local subscriber to re-read the event
log each time its subscription is (re)established, so what was published while it was away is
not lost. A publish that fails leaves a debt: a resync order is published as soon as Redis
answers again, for the subscribers of other processes whose link never broke.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from presta.events import RESYNC_MESSAGE
from presta.settings import settings

log = logging.getLogger(__name__)


def _client(url: str) -> Redis:
    # No hidden retries: reconnecting (and resyncing) is this module's job.
    return Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=None,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
    )


class RedisBroadcast:
    """Our Redis backend for ``presta.events``."""

    def __init__(
        self,
        url: str,
        channel: str,
        *,
        deliver: Callable[[str | bytes], None],
        resync: Callable[[], None],
    ) -> None:
        self._url = url
        self._channel = channel
        self._deliver = deliver
        self._resync = resync
        self._publisher = Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
        )
        self._reader: asyncio.Task[None] | None = None
        self._debt: asyncio.Task[None] | None = None
        self._owe_resync = False
        self._subscribed = asyncio.Event()
        self._was_subscribed = False
        self.subscriptions = 0

    @property
    def connected(self) -> bool:
        return self._subscribed.is_set()

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="presta-live-redis")
        # Don't block start-up on a Redis outage: the reader keeps trying in the background.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2.0)

    async def stop(self) -> None:
        for task in (self._reader, self._debt):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._publisher.aclose()

    async def publish(self, messages: Sequence[str]) -> bool:
        """Publish in order, in one round trip; False when Redis did not take them all (the
        caller resyncs local subscribers)."""
        if self._owe_resync and not await self._pay_debt():
            return False
        try:
            if len(messages) == 1:
                await self._publisher.publish(self._channel, messages[0])
            else:
                async with self._publisher.pipeline(transaction=False) as pipe:
                    for message in messages:
                        pipe.publish(self._channel, message)
                    await pipe.execute()
        except Exception as exc:
            self._fall_in_debt(exc)
            return False
        return True

    def _fall_in_debt(self, exc: BaseException) -> None:
        if not self._owe_resync:
            log.warning("live publish failed (%s); resync owed once Redis answers", exc)
        self._owe_resync = True
        if self._debt is None or self._debt.done():
            self._debt = asyncio.create_task(self._pay_debt_eventually())

    async def _pay_debt(self) -> bool:
        try:
            await self._publisher.publish(self._channel, RESYNC_MESSAGE)
        except Exception:
            return False
        self._owe_resync = False
        log.info("live publish restored; resync order sent to every process")
        return True

    async def _pay_debt_eventually(self) -> None:
        delay = settings().live_reconnect_min_seconds
        while self._owe_resync:
            await asyncio.sleep(delay * (0.5 + random.random()))
            if await self._pay_debt():
                return
            delay = min(delay * 2, settings().live_reconnect_max_seconds)

    async def _read_forever(self) -> None:
        cfg = settings()
        delay = cfg.live_reconnect_min_seconds
        while True:
            self._was_subscribed = False
            try:
                await self._read_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._was_subscribed:
                    log.warning("live Redis link lost (%s); reconnecting", exc)
            if self._was_subscribed:
                delay = cfg.live_reconnect_min_seconds
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, cfg.live_reconnect_max_seconds)

    async def _read_once(self) -> None:
        ping_every = settings().live_ping_seconds
        client = _client(self._url)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            loop = asyncio.get_running_loop()
            heard = loop.time()
            pinged = False
            while True:
                message: dict[str, Any] | None = await pubsub.get_message(timeout=ping_every)
                now = loop.time()
                if message is None:
                    if now - heard < ping_every:
                        continue
                    if pinged:
                        raise ConnectionError("no answer to ping")
                    await pubsub.ping()
                    pinged = True
                    continue
                heard, pinged = now, False
                kind = message["type"]
                if kind == "message":
                    self._deliver(message["data"])
                elif kind == "subscribe":
                    if self.subscriptions:
                        log.info("live Redis subscription restored; subscribers resync")
                    self.subscriptions += 1
                    self._was_subscribed = True
                    self._subscribed.set()
                    # Whatever was published while we were not subscribed is in the log.
                    self._resync()
        finally:
            self._subscribed.clear()
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()
