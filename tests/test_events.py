"""The live bus of one process: envelopes reach only their audience, queues stay bounded, and
our Redis client survives outages (publish debts paid with a resync order, dead links pinged)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from presta import events
from presta.redis_broadcast import RedisBroadcast
from presta.settings import get_settings, settings
from tests.support.polling import wait_for
from tests.support.redis_server import RedisServer


def _envelope(event_id: int, topic: str = "user.updated", *audience: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": topic,
        "marketplace_id": None,
        "object_type": "User",
        "object_id": 1,
        "audience": list(audience),
    }


async def _drain(sub: events.Subscription, count: int) -> list[Any]:
    return [await asyncio.wait_for(sub.__anext__(), 2) for _ in range(count)]


async def test_an_envelope_reaches_only_subscribers_of_its_audience_and_topic():
    async with (
        events.listen(topics=["user.updated"], audience=["user:1"]) as mine,
        events.listen(topics=["user.updated"], audience=["user:2"]) as someone_else,
        events.listen(topics=["message.created"], audience=["user:1"]) as other_topic,
    ):
        await events.publish(_envelope(1, "user.updated", "user:1", "staff:9"))
        await events.publish(_envelope(2, "user.updated", "user:2"))

        assert [e["id"] for e in await _drain(mine, 1)] == [1]
        assert [e["id"] for e in await _drain(someone_else, 1)] == [2]
        assert other_topic.queued == 0
        assert mine.queued == 0  # delivered once even though two of its keys could match


async def test_a_queue_overflowing_while_the_server_lags_orders_a_resync(monkeypatch):
    monkeypatch.setattr(settings(), "live_queue_size", 4)
    async with events.listen(audience=["user:1"]) as sub:
        for n in range(10):
            await events.publish(_envelope(n + 1, "user.updated", "user:1"))
        await wait_for(lambda: sub._overflowed)
        assert events.stats()["queued"] == 0  # the overflowing queue is dropped, not kept
        assert await _drain(sub, 1) == [events.RESYNC]


async def test_a_queue_overflowing_while_the_consumer_stalls_makes_it_too_slow(monkeypatch):
    monkeypatch.setattr(settings(), "live_queue_size", 4)
    monkeypatch.setattr(settings(), "live_stall_seconds", 0.1)
    async with events.listen(audience=["user:1"]) as sub:
        sub.turn_begins()  # an event is being sent; the client does not read
        await asyncio.sleep(0.15)
        for n in range(10):
            await events.publish(_envelope(n + 1, "user.updated", "user:1"))
        await wait_for(lambda: sub._overflowed)
        assert events.stats()["queued"] == 0
        with pytest.raises(events.SubscriberTooSlow):
            sub.turn_ends()


async def test_a_resync_order_replaces_whatever_was_queued():
    async with events.listen(audience=["user:1"]) as sub:
        await events.publish(_envelope(1, "user.updated", "user:1"))
        await wait_for(lambda: sub.queued == 1)
        events.resync_everyone()
        assert await _drain(sub, 1) == [events.RESYNC]
        assert sub.queued == 0


@pytest.fixture
def preparers():
    """Preparers registered by a test, removed after it (the hub is the process's)."""
    registered: dict[str, Any] = {}

    def register(topic: str, preparer: Any) -> None:
        registered[topic] = events._hub.preparers.get(topic)
        events.prepare(topic, preparer)

    yield register
    for topic, before in registered.items():
        if before is None:
            events._hub.preparers.pop(topic, None)
        else:
            events._hub.preparers[topic] = before


def _held(preparers: Any, prepared: list[int] | None = None) -> asyncio.Event:
    """``test.prepared`` events are prepared (and their ids noted) once the event is set."""
    release = asyncio.Event()

    async def snapshot(envelope: dict[str, Any]) -> None:
        await release.wait()
        if prepared is not None:
            prepared.append(envelope["id"])

    preparers("test.prepared", snapshot)
    return release


async def test_an_event_is_prepared_once_before_its_subscribers_wake(preparers):
    prepared: list[int] = []
    release = _held(preparers, prepared)
    async with (
        events.listen(topics=["test.prepared"], audience=["user:1"]) as one,
        events.listen(topics=["test.prepared"], audience=["user:2"]) as two,
        events.listen(topics=["test.prepared"], audience=["user:3"]) as elsewhere,
    ):
        await events.publish(_envelope(1, "test.prepared", "user:1", "user:2"))
        await asyncio.sleep(0.05)
        assert one.queued == two.queued == 0  # not woken while it is being prepared
        release.set()
        assert [e["id"] for e in await _drain(one, 1)] == [1]
        assert [e["id"] for e in await _drain(two, 1)] == [1]
        assert prepared == [1]
        await events.publish(_envelope(2, "test.prepared", "user:9"))  # no subscriber here
        await events.publish(_envelope(3, "test.prepared", "user:3"))
        assert [e["id"] for e in await _drain(elsewhere, 1)] == [3]
        assert prepared == [1, 3]


async def test_an_event_is_not_prepared_for_subscribers_that_do_not_read_it(preparers):
    """A multiplexed group reads its own statement: the snapshot would be work on the way to
    every one of its deliveries, for nothing."""
    prepared: list[int] = []
    release = _held(preparers, prepared)
    release.set()
    async with events.listen(topics=["test.prepared"], prepared=False) as group:
        await events.publish(_envelope(1, "test.prepared", "user:1"))
        assert [e["id"] for e in await _drain(group, 1)] == [1]
        assert prepared == []
        async with events.listen(topics=["test.prepared"], audience=["user:1"]) as cohort:
            await events.publish(_envelope(2, "test.prepared", "user:1"))
            assert [e["id"] for e in await _drain(group, 1)] == [2]
            assert [e["id"] for e in await _drain(cohort, 1)] == [2]
        assert prepared == [2]  # once, for the subscriber that reads it


async def test_envelopes_published_together_arrive_in_their_order():
    async with events.listen(audience=["user:1"]) as sub:
        await events.publish(*(_envelope(n, "user.updated", "user:1") for n in (1, 2, 3)))
        assert [e["id"] for e in await _drain(sub, 3)] == [1, 2, 3]


async def _logged(count: int) -> list[dict[str, Any]]:
    """``count`` events committed to the log (not published): their envelopes."""
    from models.events import Event
    from resolvers.events import envelope

    made = [
        await Event.create(
            topic="user.updated", object_type="User", object_id=1, audience=["user:1"]
        )
        for _ in range(count)
    ]
    return [envelope(e) for e in made]


async def test_an_envelope_ahead_of_a_committed_one_waits_for_it_from_the_log():
    """Two processes publish after their own commits: 101 can reach Redis before 100. Every
    subscriber that took 101 would skip 100 for good; the hub offers both, in order."""
    async with events.listen(audience=["user:1"]) as sub:
        first, second = await _logged(2)
        await events.publish(second)
        assert [e["id"] for e in await _drain(sub, 2)] == [first["id"], second["id"]]
        await events.publish(first)  # late: delivered already, from the log
        await events.publish(_envelope(second["id"] + 1, "user.updated", "user:1"))
        assert [e["id"] for e in await _drain(sub, 1)] == [second["id"] + 1]


async def test_a_gap_the_log_does_not_have_was_rolled_back_and_holds_nothing_up():
    async with events.listen(audience=["user:1"]) as sub:
        [logged] = await _logged(1)
        await events.publish(logged)
        await _drain(sub, 1)
        ahead = logged["id"] + 2  # ``logged["id"] + 1`` never committed
        await events.publish(_envelope(ahead, "user.updated", "user:1"))
        assert [e["id"] for e in await _drain(sub, 1)] == [ahead]
        await events.publish(_envelope(ahead - 1, "user.updated", "user:1"))  # cannot come
        await events.publish(_envelope(ahead + 1, "user.updated", "user:1"))
        assert [e["id"] for e in await _drain(sub, 1)] == [ahead + 1]


async def test_events_behind_one_being_prepared_keep_their_order(preparers):
    release = _held(preparers)
    async with events.listen(audience=["user:1"]) as sub:
        await events.publish(_envelope(1, "test.prepared", "user:1"))
        await events.publish(_envelope(2, "user.updated", "user:1"))
        await asyncio.sleep(0.05)
        assert sub.queued == 0  # the second waits for the first
        release.set()
        assert [e["id"] for e in await _drain(sub, 2)] == [1, 2]
        await events.publish(_envelope(3, "user.updated", "user:1"))
        assert [e["id"] for e in await _drain(sub, 1)] == [3]


async def test_a_failed_or_stalled_preparation_still_delivers_the_event(preparers, monkeypatch):
    monkeypatch.setattr(events, "PREPARE_SECONDS", 0.1)

    async def broken(_: dict[str, Any]) -> None:
        raise RuntimeError("the database is away")

    async def stalled(_: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    preparers("test.broken", broken)
    preparers("test.stalled", stalled)
    async with events.listen(audience=["user:1"]) as sub:
        await events.publish(_envelope(1, "test.broken", "user:1"))
        await events.publish(_envelope(2, "test.stalled", "user:1"))
        await events.publish(_envelope(3, "user.updated", "user:1"))
        assert [e["id"] for e in await _drain(sub, 3)] == [1, 2, 3]


async def test_a_subscriber_leaving_while_its_event_is_prepared_is_not_offered_it(preparers):
    release = _held(preparers)
    async with events.listen(audience=["user:1"]) as staying:
        async with events.listen(audience=["user:1"]) as leaving:
            await events.publish(_envelope(1, "test.prepared", "user:1"))
            await asyncio.sleep(0.05)
        release.set()
        assert [e["id"] for e in await _drain(staying, 1)] == [1]
        assert leaving.queued == 0
        assert events.stats()["queued"] == 0


async def test_a_namespace_change_while_connected_still_delivers_this_process_events(
    monkeypatch,
):
    # The connection keeps the channel it subscribed to: publishing on the new namespace's
    # channel would reach nobody in this process.
    await events.disconnect()
    await events.connect()
    monkeypatch.setenv("PRESTA_REDIS_NAMESPACE", f"presta-moved-{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()
    try:
        async with events.listen(audience=["user:1"]) as sub:
            await events.publish(_envelope(1, "user.updated", "user:1"))
            assert [e["id"] for e in await _drain(sub, 1)] == [1]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        await events.disconnect()  # the next listener connects under the restored settings


@pytest.fixture
def redis_server(tmp_path: Path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class Listener:
    def __init__(self, url: str, channel: str) -> None:
        self.messages: list[str | bytes] = []
        self.resyncs = 0
        self.bus = RedisBroadcast(url, channel, deliver=self.messages.append, resync=self._resync)

    def _resync(self) -> None:
        self.resyncs += 1


async def test_a_failed_publish_sends_a_resync_order_to_listeners_whose_link_held(
    redis_server, monkeypatch
):
    from redis.asyncio import Redis

    monkeypatch.setattr(settings(), "live_reconnect_max_seconds", 0.2)
    listener = Listener(redis_server.url, "t.events")
    publisher = Listener(redis_server.url, "t.events")
    await listener.bus.start()
    await publisher.bus.start()
    try:
        assert await publisher.bus.publish(['{"id": 1}'])
        await wait_for(lambda: listener.messages == [b'{"id": 1}'])

        # Redis stops taking writes for a while (the publish times out); subscriptions hold.
        admin = Redis.from_url(redis_server.url)
        await admin.execute_command("CLIENT", "PAUSE", "1500", "WRITE")  # type: ignore[no-untyped-call]
        await admin.aclose()
        assert not await publisher.bus.publish(['{"id": 2}'])

        await wait_for(lambda: events.RESYNC_MESSAGE.encode() in listener.messages)
        assert listener.resyncs == 1  # its own link held: only the order tells it to re-read
        assert await publisher.bus.publish(['{"id": 3}', '{"id": 4}'])
        await wait_for(lambda: listener.messages[-2:] == [b'{"id": 3}', b'{"id": 4}'])
    finally:
        await listener.bus.stop()
        await publisher.bus.stop()


async def test_a_restarted_redis_is_resubscribed_and_the_listener_told_to_resync(
    redis_server, monkeypatch
):
    monkeypatch.setattr(settings(), "live_reconnect_max_seconds", 0.2)
    listener = Listener(redis_server.url, "t.events")
    await listener.bus.start()
    try:
        assert listener.resyncs == 1
        redis_server.stop()
        await wait_for(lambda: not listener.bus.connected)
        redis_server.start()
        await wait_for(lambda: listener.bus.connected and listener.resyncs == 2, within=10)
    finally:
        await listener.bus.stop()


async def test_a_frozen_redis_is_detected_by_ping_and_the_subscription_restored(
    redis_server, monkeypatch
):
    monkeypatch.setattr(settings(), "live_ping_seconds", 0.3)
    monkeypatch.setattr(settings(), "live_reconnect_max_seconds", 0.2)
    listener = Listener(redis_server.url, "t.events")
    await listener.bus.start()
    try:
        assert listener.bus.connected
        os.kill(redis_server.process.pid, signal.SIGSTOP)  # the link stays open, says nothing
        try:
            await wait_for(lambda: not listener.bus.connected, within=5)
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        resyncs = listener.resyncs
        await wait_for(lambda: listener.bus.connected and listener.resyncs > resyncs, within=10)
        publisher = Listener(redis_server.url, "t.events")
        await publisher.bus.start()
        assert await publisher.bus.publish(["{}"])
        await wait_for(lambda: listener.messages[-1:] == [b"{}"])
        await publisher.bus.stop()
    finally:
        await listener.bus.stop()


def test_envelopes_are_small_json():
    assert len(orjson.dumps(_envelope(123456789, "message.created", "user:1", "staff:2"))) < 200
