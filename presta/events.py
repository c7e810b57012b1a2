"""Live events between API processes: small JSON envelopes, fanned out to local subscribers.

One upstream subscription per process (our Redis pub/sub client in ``presta.redis_broadcast``,
or broadcaster for ``memory://`` and its other backends) feeds a hub that hands each envelope
only to the local subscriptions whose audience and topics match, through bounded queues.

Events are stored before they are published (``resolvers.events``), so a subscriber that misses
envelopes reads them back from the database: after a Redis outage, after a failed publish (the
next successful publish is preceded by a resync order), or when its queue overflows because the
server lagged behind a burst. ``Subscription`` then yields ``RESYNC``. A subscriber whose queue
overflows while its client does not read is too slow: it gets ``SubscriberTooSlow`` and the
client resumes from its cursor.

What every subscriber of a topic needs for each event (one snapshot query for all of them) can
be prepared by the hub before they are woken (``prepare``): each subscriber then wakes once,
with the snapshot ready, instead of waking to ask for it and again when it arrives.

Events commit in id order (``resolvers.events``), but each process publishes its own after its
commit, so the channel can carry id 101 before 100 (two API processes, or an API process and a
worker). A subscriber skips ids below its last one, so 100 would be lost to every subscriber
that got 101. The hub restores the order: an envelope that arrives ahead of a gap is held, and
the gap is filled from the log (``fill_gaps``), which already knows the fate of every id below
a committed one (committed, or rolled back and never to come); the late envelope, when it
comes, is dropped as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, Protocol

import orjson
from prometheus_client import Counter, Gauge

from presta.settings import settings
from presta.subscription import RESYNC, Signal, SubscriberTooSlow, Subscription

# What ``listen`` hands out and yields: callers know them as ``events.*``.
__all__ = ["RESYNC", "Signal", "SubscriberTooSlow", "Subscription"]

log = logging.getLogger(__name__)

SUBSCRIBERS = Gauge("presta_live_subscribers", "Live subscriptions attached in this process.")
RESYNCS = Counter("presta_live_resyncs_total", "Resync orders given to every local subscriber.")

# A control message on the channel: every subscriber, in every process, re-reads the log.
RESYNC_MESSAGE: Final = '{"resync":true}'


Prepare = Callable[[dict[str, Any]], Awaitable[object]]
# The envelopes of the events committed with ``after < id < before``, in id order.
Fill = Callable[[int, int], Awaitable[list[dict[str, Any]]]]
# The id of the last event committed.
Latest = Callable[[], Awaitable[int]]
# A gap this wide is not a reordering (Redis lost envelopes): every subscriber re-reads the log.
FILL_MAX: Final = 500
LATE = Counter(
    "presta_live_late_envelopes_total",
    "Envelopes that arrived after their successor, already delivered from the event log.",
)
# A stalled preparation (the database) must not hold back the live events behind it for long.
PREPARE_SECONDS: Final = 1.0
# An envelope, the subscriptions it is for, and its preparation (None: nothing to prepare).
_Waiting = tuple[dict[str, Any], list["Subscription"], "asyncio.Future[object] | None"]


class Hub:
    """Local subscriptions indexed by audience key, so an envelope only visits its audience.

    Envelopes are offered in the order they arrived: one whose topic has a preparer waits for
    it, and the envelopes behind it wait too (a subscriber skips ids below its last one).
    """

    def __init__(self) -> None:
        self.by_key: dict[str, set[Subscription]] = {}
        self.everyone: set[Subscription] = set()
        self.high_water = 0
        self.preparers: dict[str, Prepare] = {}
        self._waiting: deque[_Waiting] = deque()
        self.fill: Fill | None = None
        self.latest: Latest | None = None
        # The id offered next (None: take the next envelope as it comes), the envelopes that
        # arrived ahead of a gap, and the reading of the log that fills it.
        self._next: int | None = None
        self._held: dict[int, dict[str, Any]] = {}
        self._filling: asyncio.Task[None] | None = None

    def add(self, sub: Subscription) -> None:
        if not self.everyone and not self.by_key:
            self._restart_order()  # nobody was listening: nothing was held
        if sub.keys is None:
            self.everyone.add(sub)
        else:
            for key in sub.keys:
                self.by_key.setdefault(key, set()).add(sub)
        SUBSCRIBERS.inc()

    def remove(self, sub: Subscription) -> None:
        if sub.keys is None:
            self.everyone.discard(sub)
        else:
            for key in sub.keys:
                subs = self.by_key.get(key)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self.by_key[key]
        sub.close()
        SUBSCRIBERS.dec()

    def deliver(self, message: str | bytes) -> None:
        try:
            envelope = orjson.loads(message)
        except orjson.JSONDecodeError:
            log.warning("dropping a malformed live message")
            return
        if envelope.get("resync"):
            self.resync()
            return
        event_id = int(envelope.get("id") or 0)
        self.high_water = max(self.high_water, event_id)
        if self.fill is None or self._next is None:
            self._next = event_id + 1
            self._offer(envelope)
            return
        if event_id < self._next:
            LATE.inc()
            return
        self._held[event_id] = envelope
        self._release()

    def _release(self) -> None:
        """Offer the held envelopes that follow without a gap; fill the first gap left."""
        assert self._next is not None
        while self._next in self._held:
            self._offer(self._held.pop(self._next))
            self._next += 1
        if self._held and (self._filling is None or self._filling.done()):
            self._filling = asyncio.ensure_future(self._fill(self._next, min(self._held)))

    async def _fill(self, start: int, before: int) -> None:
        assert self.fill is not None
        try:
            found = await asyncio.wait_for(self.fill(start - 1, before), PREPARE_SECONDS)
        except Exception:
            log.warning("reading the event log for a live gap failed", exc_info=True)
            found = None
        self._filling = None
        if found is None or len(found) >= FILL_MAX:
            self.resync()  # every subscriber re-reads the log from its last event
            return
        if self._next is None:
            return  # restarted meanwhile
        # Late envelopes may have come meanwhile (and been offered): the others, from the log.
        for envelope in found:
            if int(envelope["id"]) >= self._next:
                self._held.setdefault(int(envelope["id"]), envelope)
        # Below ``before``, what the log does not have was rolled back: never to come.
        for event_id in sorted(i for i in self._held if i < before):
            self._offer(self._held.pop(event_id))
        self._next = max(self._next, before)
        self._release()

    async def know_order(self) -> None:
        """Before a subscriber starts, what comes next when no envelope said it yet (since this
        process connected): the event after the last one committed."""
        if self._next is None and self.latest is not None:
            latest = await self.latest()
            if self._next is None:  # no envelope came meanwhile
                self.high_water = max(self.high_water, latest)
                self._next = self.high_water + 1

    def _restart_order(self) -> None:
        # Every envelope on the channel since this process connected came through here: what
        # follows the last of them is next (a gap then is filled from the log as any other).
        self._next = self.high_water + 1 if self.high_water else None
        self._held.clear()
        if self._filling is not None:
            self._filling.cancel()
            self._filling = None

    def _offer(self, envelope: dict[str, Any]) -> None:
        topic: str = envelope.get("topic") or ""
        subs = [
            sub
            for sub in self._audience(envelope.get("audience") or ())
            if sub.topics is None or topic in sub.topics
        ]
        if not subs:
            return
        # A multiplexed group reads its own statement: the snapshot is only for the others.
        prepare = self.preparers.get(topic) if any(s.prepared for s in subs) else None
        if prepare is None and not self._waiting:
            for sub in subs:
                sub.offer(envelope)
            return
        task: asyncio.Future[object] | None = None
        if prepare is not None:
            task = asyncio.ensure_future(asyncio.wait_for(prepare(envelope), PREPARE_SECONDS))
            task.add_done_callback(self._prepared)
        self._waiting.append((envelope, subs, task))

    def _prepared(self, task: asyncio.Future[object]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # The subscribers compute what they need themselves.
            log.warning("preparing a live event failed", exc_info=task.exception())
        while self._waiting and (self._waiting[0][2] is None or self._waiting[0][2].done()):
            envelope, subs, _ = self._waiting.popleft()
            for sub in subs:
                sub.offer(envelope)

    def _audience(self, keys: Iterable[str]) -> Iterable[Subscription]:
        matched = [self.by_key[key] for key in keys if key in self.by_key]
        if not self.everyone and len(matched) == 1:
            return matched[0]
        return self.everyone.union(*matched)

    def resync(self) -> None:
        self._restart_order()  # what was held is read again with the rest
        RESYNCS.inc()
        for sub in self.everyone.union(*self.by_key.values()):
            sub.order_resync()

    def stats(self) -> dict[str, int]:
        subs = self.everyone.union(*self.by_key.values())
        return {
            "subscribers": len(subs),
            "queued": sum(s.queued for s in subs),
            "max_queue": max((s.queued for s in subs), default=0),
        }


class Backend(Protocol):
    """Carries envelopes between processes; calls ``hub.deliver`` / ``hub.resync``."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, messages: Sequence[str]) -> bool: ...


class _BroadcasterBackend:
    """broadcaster (``memory://``, ``postgres://``...) with one subscription feeding the hub."""

    def __init__(self, url: str, channel: str, hub: Hub) -> None:
        from broadcaster import Broadcast

        self._broadcast = Broadcast(url)
        # Publish where we subscribed, even if the settings change while connected.
        self._channel = channel
        self._hub = hub
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._broadcast.connect()
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._pump(ready))
        await ready.wait()

    async def _pump(self, ready: asyncio.Event) -> None:
        async with self._broadcast.subscribe(self._channel) as subscriber:
            ready.set()
            async for event in subscriber:  # type: ignore[union-attr]
                if event is None:
                    return
                self._hub.deliver(event.message)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._broadcast.disconnect()

    async def publish(self, messages: Sequence[str]) -> bool:
        for message in messages:
            await self._broadcast.publish(self._channel, message)
        return True


_hub = Hub()
_backend: Backend | None = None
_lock = asyncio.Lock()


def prepare(topic: str, preparer: Prepare) -> None:
    """Run ``preparer(envelope)`` once per process for each envelope of ``topic`` that has a
    local subscriber, before waking them (it fills a cache they read, e.g. a ``Shared``); if
    it fails, they are woken all the same."""
    _hub.preparers[topic] = preparer


def forget_order() -> None:
    """Forget the ids seen (tests: the event table starts again from 1)."""
    _hub.high_water = 0
    _hub._restart_order()


def fill_gaps(fill: Fill, latest: Latest) -> None:
    """How the hub reads the envelopes of committed events from the log, to fill a gap left by
    envelopes that arrive out of order, and the id of the last one."""
    _hub.fill, _hub.latest = fill, latest


def channel() -> str:
    return f"{settings().redis_namespace}.events"


def _url() -> str:
    url = settings().broadcast_url
    if url == "redis" or (url.startswith("redis") and "://" not in url):
        return settings().redis_url
    return url


def _make_backend(url: str) -> Backend:
    if url.startswith(("redis://", "rediss://", "unix://")):
        from presta.redis_broadcast import RedisBroadcast

        return RedisBroadcast(url, channel(), deliver=_hub.deliver, resync=_hub.resync)
    return _BroadcasterBackend(url, channel(), _hub)


async def connect() -> None:
    global _backend
    async with _lock:
        if _backend is None:
            backend = _make_backend(_url())
            await backend.start()
            _backend = backend


async def disconnect() -> None:
    global _backend
    async with _lock:
        if _backend is not None:
            backend, _backend = _backend, None
            await backend.stop()


async def publish(*envelopes: dict[str, Any]) -> None:
    """Publish after commit, in order and in one round trip; a failure is logged, never raised
    (the event log has it)."""
    if _backend is None or not envelopes:
        return
    try:
        sent = await _backend.publish([orjson.dumps(e).decode() for e in envelopes])
    except Exception:
        log.warning("event publish failed; subscribers resync from the event log", exc_info=True)
        sent = False
    if not sent:
        # Local subscribers catch up at once; other processes get a resync order later.
        _hub.resync()


@asynccontextmanager
async def listen(
    *,
    topics: Iterable[str] | None = None,
    audience: Iterable[str] | None = None,
    prepared: bool = True,
) -> AsyncIterator[Subscription]:
    """Attach a subscription for envelopes published from now on, by any process.

    Only envelopes of ``topics`` (all when None) naming one of the ``audience`` keys (all when
    None) are queued. The subscription yields envelopes and, when it must re-read the event log
    since its last event, ``RESYNC``. With ``prepared=False`` it does not read what ``prepare``
    computes, which then runs only for the subscribers that do.
    """
    if _backend is None:
        await connect()
    sub = Subscription(
        _hub,
        frozenset(topics) if topics is not None else None,
        frozenset(audience) if audience is not None else None,
        prepared=prepared,
    )
    _hub.add(sub)
    try:
        await _hub.know_order()
        yield sub
    finally:
        _hub.remove(sub)


def stats() -> dict[str, int]:
    """Subscribers and queued envelopes in this process (tests and benchmarks measure it)."""
    return _hub.stats()


def resync_everyone() -> None:
    """Order every local subscriber to re-read the log (used after a gap in delivery)."""
    _hub.resync()
