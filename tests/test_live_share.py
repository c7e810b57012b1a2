"""Subscriptions of one actor share the per-event access check and load; nobody else does."""

from __future__ import annotations

from typing import Any

from presta.tx import atomic
from resolvers import account
from resolvers.events import record_event
from tests.factories.account import actor_of, make_user
from tests.support.live import Collector, logged_ids, rename
from tests.support.polling import wait_for


async def test_many_connections_of_one_user_get_every_event_for_one_load_each(monkeypatch):
    import schema.account

    loads: list[int] = []
    real = schema.account._load_user

    async def counted(actor: Any, envelope: dict[str, Any]) -> Any:
        loads.append(envelope["id"])
        return await real(actor, envelope)

    monkeypatch.setattr(schema.account, "_load_user", counted)
    user = await make_user()
    actor = await actor_of(user)
    subscribers = [await Collector(actor).start() for _ in range(20)]

    await rename(actor, 5)

    logged = await logged_ids(user.id)
    await wait_for(lambda: all(len(s.ids) == 5 for s in subscribers))
    assert all(s.ids == logged for s in subscribers)
    assert sorted(loads) == logged  # one access check and load per event, not 20
    for s in subscribers:
        await s.stop()


async def test_an_event_shared_by_two_users_is_still_checked_for_each_of_them():
    owner, other = await make_user(), await make_user()
    owner_actor, other_actor = await actor_of(owner), await actor_of(other)
    owner_sub = await Collector(owner_actor).start()
    other_sub = await Collector(other_actor).start()

    # An event naming both users, about the owner's account only: the other user's check
    # must run on its own and refuse it, even though the owner's succeeded a moment before.
    async with atomic() as tx:
        await record_event(
            tx,
            topic=account.USER_UPDATED,
            marketplace_id=None,
            object_type="User",
            object_id=owner.id,
            audience=[f"user:{owner.id}", f"user:{other.id}"],
        )
    await account.update_profile(other_actor, full_name="Other, renamed")

    await wait_for(lambda: len(owner_sub.ids) == 1 and len(other_sub.ids) == 1)
    assert owner_sub.ids == await logged_ids(owner.id)
    assert other_sub.ids == await logged_ids(other.id)
    await owner_sub.stop()
    await other_sub.stop()
