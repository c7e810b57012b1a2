"""A subscription held for hours must not grow with the events it delivers (found by
``bench/load.py``: graphql-core shares a per-operation memo with every event's executor)."""

from __future__ import annotations

import gc

from graphql.execution.collect_fields import FieldDetails

from resolvers import account
from tests.factories.account import actor_of, make_user
from tests.support.live import Collector
from tests.support.polling import wait_for


def _memo_entries() -> int:
    gc.collect()
    return sum(isinstance(o, FieldDetails) for o in gc.get_objects())


async def test_a_long_lived_subscription_does_not_grow_with_the_events_it_delivers():
    actor = await actor_of(await make_user())
    collector = await Collector(actor).start()

    async def deliver(count: int, prefix: str) -> None:
        expected = len(collector.ids) + count
        for n in range(count):
            await account.update_profile(actor, full_name=f"{prefix} {n}")
        await wait_for(lambda: len(collector.ids) >= expected, within=20)

    await deliver(10, "Warm")
    before = _memo_entries()
    await deliver(200, "Later")
    grown = _memo_entries() - before
    await collector.stop()
    assert collector.errors == []
    assert grown < 20, f"{grown} field memo entries kept for 200 events"
