"""Subscriptions never lose an event: replay from a cursor, resync after a gap, slow consumers
cut off with a code, expired cursors refused. In-process, on the configured bus."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from presta import clock, events
from presta.settings import settings
from presta.tx import atomic
from resolvers import account
from resolvers.events import record_event
from resolvers.housekeeping import purge_expired_events
from tests.factories.account import actor_of, make_user
from tests.support.live import Collector, logged_ids, rename
from tests.support.polling import wait_for


async def test_every_live_subscriber_gets_each_change_once_and_in_order():
    user = await make_user()
    actor = await actor_of(user)
    first, second = await Collector(actor).start(), await Collector(actor).start()

    await rename(actor, 20)

    logged = await logged_ids(user.id)
    assert len(logged) == 20
    await wait_for(lambda: len(first.ids) == 20 and len(second.ids) == 20)
    assert first.ids == logged
    assert second.ids == logged
    await first.stop()
    await second.stop()


async def test_a_subscriber_resuming_from_its_last_cursor_gets_exactly_what_it_missed():
    user = await make_user()
    actor = await actor_of(user)
    before = await Collector(actor).start()
    await rename(actor, 3, "Seen")
    await wait_for(lambda: len(before.ids) == 3)
    await before.stop()

    await rename(actor, 7, "Missed")
    resumed = await Collector(actor, after=before.ids[-1]).start()
    await wait_for(lambda: len(resumed.ids) == 7)
    await rename(actor, 1, "Live")

    logged = await logged_ids(user.id)
    await wait_for(lambda: len(resumed.ids) == 8)
    assert resumed.ids == logged[3:]
    await resumed.stop()


async def test_a_subscriber_without_cursor_gets_nothing_older_even_after_a_resync():
    user = await make_user()
    actor = await actor_of(user)
    await rename(actor, 5, "Old")
    live = await Collector(actor).start()

    events.resync_everyone()
    await rename(actor, 2, "New")

    logged = await logged_ids(user.id)
    await wait_for(lambda: len(live.ids) == 2)
    await asyncio.sleep(0.1)
    assert live.ids == logged[5:]
    await live.stop()


async def test_a_cursor_whose_events_were_purged_answers_cursor_expired():
    user = await make_user()
    actor = await actor_of(user)
    await rename(actor, 2, "Ancient")
    first_purged, last_purged = await logged_ids(user.id)
    clock.advance(timedelta(days=settings().event_retention_days + 1))
    assert await purge_expired_events() == 2
    await rename(actor, 1, "Recent")

    expired = await Collector(actor, after=first_purged).start()
    await asyncio.wait_for(expired.done.wait(), 5)
    assert expired.codes == ["CURSOR_EXPIRED"]
    assert "retention" in expired.errors[0]["message"]

    # Nothing after the newest purged event is gone: that cursor still resumes.
    retained = await Collector(actor, after=last_purged).start()
    await wait_for(lambda: len(retained.ids) == 1)
    assert retained.errors == []
    await retained.stop()


async def test_a_subscriber_that_stops_reading_is_cut_off_with_a_code_and_memory_stays_bounded(
    monkeypatch,
):
    monkeypatch.setattr(settings(), "live_queue_size", 8)
    monkeypatch.setattr(settings(), "live_stall_seconds", 0.0)
    user = await make_user()
    actor = await actor_of(user)
    slow = await Collector(actor, read=False).start()
    await rename(actor, 1, "Read")
    await wait_for(lambda: len(slow.ids) == 1)

    peak = 0
    for n in range(40):
        await account.update_profile(actor, full_name=f"Unread {n}")
        peak = max(peak, events.stats()["max_queue"])
    assert peak <= 8
    assert events.stats()["queued"] == 0  # the overflowing queue was dropped, not kept

    await slow.resume_reading()
    assert slow.codes == ["SUBSCRIBER_TOO_SLOW"]
    logged = await logged_ids(user.id)
    delivered = slow.ids

    # The client resumes from the last cursor it received and misses nothing.
    resumed = await Collector(actor, after=delivered[-1]).start()
    await wait_for(lambda: len(delivered) + len(resumed.ids) == len(logged))
    assert delivered + resumed.ids == logged
    await resumed.stop()


async def test_an_event_whose_publish_failed_still_reaches_local_subscribers(monkeypatch):
    user = await make_user()
    actor = await actor_of(user)
    live = await Collector(actor).start()
    await rename(actor, 1, "Before")
    await wait_for(lambda: len(live.ids) == 1)

    async def broken_publish(message: str) -> bool:
        raise ConnectionError("bus down")

    monkeypatch.setattr(events._backend, "publish", broken_publish)
    await rename(actor, 3, "Unpublished")
    monkeypatch.undo()
    await rename(actor, 1, "After")

    logged = await logged_ids(user.id)
    await wait_for(lambda: len(live.ids) == 5)
    assert live.ids == logged
    await live.stop()


async def test_overlapping_transactions_publish_their_events_in_id_order():
    user = await make_user()
    actor = await actor_of(user)
    live = await Collector(actor).start()
    recorded = asyncio.Event()
    release = asyncio.Event()

    async def record(hold: bool) -> int:
        async with atomic() as tx:
            event = await record_event(
                tx,
                topic=account.USER_UPDATED,
                marketplace_id=None,
                object_type="User",
                object_id=user.id,
                audience=[f"user:{user.id}"],
            )
            if hold:
                recorded.set()
                await release.wait()
        return int(event.id)

    slow = asyncio.create_task(record(hold=True))
    await recorded.wait()
    fast = asyncio.create_task(record(hold=False))
    await asyncio.sleep(0.2)
    assert not fast.done()  # it waits for the older event to commit first
    release.set()
    ids = [await slow, await fast]

    assert ids[0] < ids[1]
    await wait_for(lambda: len(live.ids) == 2)
    assert live.ids == ids
    await live.stop()
