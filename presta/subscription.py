"""One live subscriber's bounded queue of envelopes, filled by the hub of ``presta.events``.

A subscriber that misses envelopes reads them back from the event log: when its queue
overflows because the server lagged behind a burst, or when the hub orders a resync. It then
yields ``RESYNC``. A subscriber whose queue overflows while its client does not read is too
slow: it gets ``SubscriberTooSlow`` and the client resumes from its cursor.
"""

from __future__ import annotations

import asyncio
from collections import deque
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import Counter, Gauge

from presta.settings import settings

if TYPE_CHECKING:
    from presta.events import Hub

QUEUED = Gauge("presta_live_queued_envelopes", "Envelopes waiting in subscriber queues.")
OVERFLOWS = Counter("presta_live_overflows_total", "Subscriber queues that overflowed.")


class Signal(Enum):
    RESYNC = "resync"


RESYNC: Final = Signal.RESYNC


class SubscriberTooSlow(Exception):
    """The consumer stalled on an event while the subscriber's queue overflowed."""


class Subscription:
    """A bounded queue of envelopes for one subscriber, filled by the hub.

    The consumer brackets the hand-over of each event with ``turn_begins()``/``turn_ends()``.
    When the queue overflows while the consumer has been holding an event for longer than
    ``live_stall_seconds`` (its websocket is not being read), the consumer is too slow. When it
    overflows because the server itself lagged behind a burst, the subscriber resyncs instead.
    """

    __slots__ = (
        "_blamed",
        "_closed",
        "_hub",
        "_overflowed",
        "_queue",
        "_resync",
        "_turn_started",
        "_waiter",
        "keys",
        "prepared",
        "topics",
    )

    def __init__(
        self,
        hub: Hub,
        topics: frozenset[str] | None,
        keys: frozenset[str] | None,
        *,
        prepared: bool = True,
    ):
        self._hub = hub
        self.topics = topics
        self.keys = keys
        # Whether it reads what the hub prepares for its topics (``events.prepare``).
        self.prepared = prepared
        self._queue: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._resync = False
        self._overflowed = False
        self._blamed = False
        self._turn_started: float | None = None
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._queue)

    def offer(self, envelope: dict[str, Any]) -> None:
        """The hub hands over an envelope of this subscriber's audience and topics."""
        if self._closed:
            return  # detached while the envelope was being prepared
        if self._overflowed:
            # Nothing is queued any more; only decide whether the consumer is to blame.
            self._blamed = self._blamed or self._stalled()
            return
        if self._resync:
            return  # the log will be read again anyway
        if len(self._queue) >= settings().live_queue_size:
            QUEUED.dec(len(self._queue))
            self._queue.clear()
            self._overflowed = True
            self._blamed = self._stalled()
            OVERFLOWS.inc()
        else:
            self._queue.append(envelope)
            QUEUED.inc()
        self._wake()

    def _stalled(self) -> bool:
        started = self._turn_started
        if started is None:
            return False
        return asyncio.get_running_loop().time() - started >= settings().live_stall_seconds

    def order_resync(self) -> None:
        """The hub orders a re-read of the log: what is queued is dropped."""
        QUEUED.dec(len(self._queue))
        self._queue.clear()
        self._resync = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        """Detached by the hub: drop what is queued and end the iteration."""
        self._closed = True
        QUEUED.dec(len(self._queue))
        self._queue.clear()
        self._wake()

    def turn_begins(self) -> None:
        """The consumer now holds an event (it is being sent to the client)."""
        self._turn_started = asyncio.get_running_loop().time()

    def turn_ends(self) -> None:
        """The consumer asks for more; raises ``SubscriberTooSlow`` if the queue overflowed
        while it held this event for longer than ``live_stall_seconds``."""
        stalled = self._stalled()
        self._turn_started = None
        if self._overflowed and (self._blamed or stalled):
            raise SubscriberTooSlow

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any] | Signal:
        while True:
            if self._overflowed:
                if self._blamed:
                    raise SubscriberTooSlow
                self._overflowed = False
                return RESYNC
            if self._resync:
                self._resync = False
                return RESYNC
            if self._queue:
                QUEUED.dec()
                return self._queue.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
