"""Republished terms of use: a grace period per marketplace, then no new requests until the
provider accepts them; told by e-mail and live."""

from __future__ import annotations

from datetime import timedelta
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

from babel.dates import format_date

from models.dispatch import Dispatch
from models.events import Event
from presta import clock, jobs
from resolvers.dispatch.reminder import sweep_dispatch_deadlines
from resolvers.terms import (
    accept_terms_of_use,
    notify_terms_overdue,
    publish_terms_of_use,
    sweep_terms_grace_periods,
)
from schema.base import encode_id
from tests.factories.account import actor_of, make_staff
from tests.factories.dispatch import POSTAL_CODE, World, make_world
from tests.support.graphql import ok
from tests.support.live import open_feed

MATCHING = """
query($service: ID!, $address: AddressInput!) {
  matchingProviders(serviceId: $service, address: $address) {
    matched { id }
    unmatched { membership { id } reasons }
  }
}"""


async def _world_with_terms(grace_days: int) -> tuple[World, list[int]]:
    """Three providers that accepted version 1 of the terms; version 2 published now."""
    world = await make_world(providers=3, proposals_required=3, terms_grace_days=grace_days)
    admin = await actor_of(await make_staff(world.marketplace), world.marketplace)
    await publish_terms_of_use(admin, text="Version 1")
    for provider in world.providers:
        await accept_terms_of_use(provider.actor)
    await publish_terms_of_use(admin, text="Version 2")
    await jobs.drain()
    return world, [p.membership.id for p in world.providers]


async def _asked(request_id: int) -> set[int]:
    asked = await Dispatch.filter(request_id=request_id).values_list("membership_id", flat=True)
    return {int(m) for m in asked}  # type: ignore[call-overload]


async def test_within_the_grace_period_a_provider_behind_on_the_terms_still_receives_requests():
    world, ids = await _world_with_terms(grace_days=7)
    clock.advance(timedelta(days=6, hours=23))

    assert await _asked(await world.request()) == set(ids)


async def test_after_the_grace_period_only_providers_that_accepted_the_new_terms_get_requests():
    world, _ = await _world_with_terms(grace_days=7)
    late, diligent, _ = world.providers
    await accept_terms_of_use(diligent.actor)
    clock.advance(timedelta(days=7, minutes=1))

    assert await _asked(await world.request()) == {diligent.membership.id}

    await accept_terms_of_use(late.actor)
    assert await _asked(await world.request()) == {diligent.membership.id, late.membership.id}


async def test_requests_already_sent_stay_with_a_provider_whose_grace_period_ends():
    world, ids = await _world_with_terms(grace_days=1)
    request_id = await world.request()
    clock.advance(timedelta(days=1, minutes=1))

    await sweep_dispatch_deadlines()

    assert await _asked(request_id) == set(ids)


async def test_a_grace_period_of_zero_days_stops_new_requests_at_once():
    world, _ = await _world_with_terms(grace_days=0)

    assert await _asked(await world.request()) == set()


async def test_matching_providers_says_the_terms_are_not_accepted():
    world, _ = await _world_with_terms(grace_days=3)
    late, diligent, other = world.providers
    await accept_terms_of_use(diligent.actor)
    clock.advance(timedelta(days=3, minutes=1))

    data = await ok(
        MATCHING,
        {
            "service": str(encode_id("Service", world.service.id)),
            "address": {"postalCode": POSTAL_CODE},
        },
        actor=world.staff,
    )

    report = data["matchingProviders"]
    assert [m["id"] for m in report["matched"]] == [
        str(encode_id("Membership", diligent.membership.id))
    ]
    assert {u["membership"]["id"]: u["reasons"] for u in report["unmatched"]} == {
        str(encode_id("Membership", p.membership.id)): ["TERMS_NOT_ACCEPTED"] for p in (late, other)
    }


async def test_every_provider_is_mailed_the_new_terms_with_the_date_requests_stop(mailbox):
    world, _ = await _world_with_terms(grace_days=10)

    paris = (clock.now() + timedelta(days=10)).astimezone(ZoneInfo("Europe/Paris"))
    accept_by = f"avant le {format_date(paris, 'long', locale='fr')} à {paris:%H:%M} (Europe/Paris)"
    for provider in world.providers:
        bodies = [
            mailbox.body(m)
            for m in mailbox.to(provider.email)
            if "nouvelles conditions" in str(make_header(decode_header(m["Subject"])))
        ]
        [body] = [b for b in bodies if "version 2" in b]
        assert accept_by in body


async def test_the_end_of_the_grace_period_is_told_once_by_mail_and_live(mailbox):
    world, _ = await _world_with_terms(grace_days=2)
    late, diligent, _ = world.providers
    await accept_terms_of_use(diligent.actor)
    clock.advance(timedelta(days=1))
    assert await sweep_terms_grace_periods() == 0
    clock.advance(timedelta(days=1, minutes=1))

    assert await sweep_terms_grace_periods() == 2
    assert await sweep_terms_grace_periods() == 0
    await jobs.drain()

    def overdue_mails(address: str) -> int:
        return sum(
            "pour recevoir des demandes" in str(make_header(decode_header(m["Subject"])))
            for m in mailbox.to(address)
        )

    assert overdue_mails(late.email) == 1
    assert overdue_mails(diligent.email) == 0
    told = [
        e.object_id
        for e in await Event.filter(topic="membership.updated").order_by("id")
        if e.payload.get("change") == "terms_overdue"
    ]
    assert late.membership.id in told
    assert diligent.membership.id not in told
    assert len(told) == 2
    overdue_event = next(
        e
        for e in await Event.filter(topic="membership.updated", object_id=late.membership.id)
        if e.payload.get("change") == "terms_overdue"
    )
    assert f"membership:{late.membership.id}" in overdue_event.audience
    assert f"staff:{world.marketplace.id}" in overdue_event.audience


async def test_a_late_mail_redelivered_after_the_provider_accepted_is_not_sent(mailbox):
    world, _ = await _world_with_terms(grace_days=1)
    late = world.providers[0]
    clock.advance(timedelta(days=1, minutes=1))
    await sweep_terms_grace_periods()
    await jobs.drain()
    await accept_terms_of_use(late.actor)
    mailbox.clear()

    await notify_terms_overdue(late.membership.id, 2)  # the queue delivers the job again

    assert mailbox.to(late.email) == []
    assert (await _asked(await world.request())) >= {late.membership.id}


LIVE = "subscription { membershipUpdated { membership { id mustAcceptTerms } } }"


async def test_a_provider_sees_new_terms_and_the_end_of_their_grace_period_live():
    world, _ = await _world_with_terms(grace_days=1)
    late = world.providers[0]
    feed = await open_feed(LIVE, "membershipUpdated", late.actor)
    admin = await actor_of(await make_staff(world.marketplace), world.marketplace)

    await publish_terms_of_use(admin, text="Version 3")
    clock.advance(timedelta(days=1, minutes=1))
    await sweep_terms_grace_periods()

    items = await feed.wait(2)
    mine = {"id": str(encode_id("Membership", late.membership.id)), "mustAcceptTerms": True}
    assert [i["membership"] for i in items] == [mine, mine]
    await feed.close()
