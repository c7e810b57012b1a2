"""The providers woken by one dispatch event share one snapshot of who may receive it."""

from __future__ import annotations

import asyncio
from typing import Any

from models.membership import MembershipStatus
from resolvers.dispatch import core
from tests.factories.dispatch import make_world
from tests.support.live import open_feed

DISPATCHED = """
subscription($after: String) { serviceRequestDispatched(after: $after) {
  cursor serviceRequest { id } dispatch { status } } }"""
NAME = "serviceRequestDispatched"


async def test_the_providers_of_one_request_get_it_from_one_snapshot_each_with_its_own_dispatch(
    monkeypatch: Any,
) -> None:
    snapshots: list[int] = []
    real = core._accepted_dispatches

    async def counted(request_id: int, **kw: Any) -> Any:
        snapshots.append(request_id)
        return await real(request_id, **kw)

    monkeypatch.setattr(core, "_accepted_dispatches", counted)
    world = await make_world(providers=5)
    feeds = [await open_feed(DISPATCHED, NAME, p.actor) for p in world.providers]
    try:
        first, second = await world.request(), await world.request()
        for feed in feeds:
            items = await feed.wait(2)
            assert [item["dispatch"]["status"] for item in items] == ["PENDING", "PENDING"]
        assert snapshots == [first, second]
    finally:
        for feed in feeds:
            await feed.close()


async def test_a_provider_suspended_since_a_request_was_sent_does_not_get_it_on_replay() -> None:
    world = await make_world(providers=2)
    late, live = world.providers
    feed = await open_feed(DISPATCHED, NAME, late.actor)
    watcher = await open_feed(DISPATCHED, NAME, live.actor)
    try:
        await world.request()
        [seen] = await feed.wait(1)
        await feed.close()
        await world.request()  # the other provider's delivery takes the snapshot
        await watcher.wait(2)
        late.membership.status = MembershipStatus.SUSPENDED
        await late.membership.save()
        await asyncio.sleep(0.6)  # past the time a snapshot serves one live event

        query = DISPATCHED.replace("(after: $after)", f'(after: "{seen["cursor"]}")')
        query = query.replace("($after: String)", "")
        resumed = await open_feed(query, NAME, late.actor)
        replayed = await open_feed(query, NAME, live.actor)  # the same replay, still accepted
        try:
            [item] = await replayed.wait(1)
            assert item["serviceRequest"]["id"] != seen["serviceRequest"]["id"]
            await asyncio.sleep(0.2)
            assert resumed.items == []
            assert resumed.errors == []
        finally:
            await resumed.close()
            await replayed.close()
    finally:
        await feed.close()
        await watcher.close()


async def test_the_snapshot_is_taken_before_the_providers_wake_and_one_leaving_holds_up_nobody(
    monkeypatch: Any,
) -> None:
    taking: list[asyncio.Task[Any]] = []
    real = core._accepted_dispatches

    async def slow(request_id: int, **kw: Any) -> Any:
        task = asyncio.current_task()
        assert task is not None
        taking.append(task)
        await asyncio.sleep(0.3)
        return await real(request_id, **kw)

    monkeypatch.setattr(core, "_accepted_dispatches", slow)
    world = await make_world(providers=3)
    feeds = [await open_feed(DISPATCHED, NAME, p.actor) for p in world.providers]
    try:
        await world.request()
        for _ in range(50):
            if taking:
                break
            await asyncio.sleep(0.01)
        # The live hub takes it, once, for all of them: no subscription is running yet.
        assert [f for f in feeds if f.task in taking] == []
        leaving, *staying = feeds
        await leaving.close()
        for feed in staying:
            [item] = await feed.wait(1)
            assert item["dispatch"]["status"] == "PENDING"
        assert len(taking) == 1
    finally:
        for feed in feeds:
            await feed.close()
