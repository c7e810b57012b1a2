"""Notifications people need, by e-mail (through a real SMTP server) and live, each once."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from models.account import User
from models.catalog import ProviderServiceStatus
from models.dispatch import DispatchStatus
from models.events import Event
from models.intervention import InterventionStatus
from models.membership import MembershipStatus
from models.notification import Notification, NotificationKind
from presta import clock, jobs
from resolvers import catalog, notification_facts, notification_sweep
from resolvers.application import submit_application
from resolvers.dispatch.proposal import Answer, accept_proposal, respond_to_service_request
from resolvers.intervention import (
    change_intervention_status,
    reschedule_intervention,
    schedule_intervention,
)
from resolvers.messaging import core as messaging
from tests.factories.account import actor_of, make_staff
from tests.factories.catalog import make_service, offer
from tests.factories.dispatch import make_world
from tests.factories.document import make_company_document
from tests.factories.membership import make_membership, make_provider_user
from tests.factories.messaging import make_cast, make_conversation
from tests.support.graphql import ok


def _long_day(moment: datetime, locale: str) -> str:
    return format_date(moment.astimezone(ZoneInfo("Europe/Paris")), "long", locale=locale)


def _subjects(mailbox: Any, address: str) -> list[str]:
    return [str(m["Subject"]) for m in mailbox.to(address)]


async def _chosen_visit_world() -> tuple[Any, Any, int]:
    world = await make_world(providers=1, proposals_required=1)
    request_id = await world.request()
    chosen = world.providers[0]
    await respond_to_service_request(
        chosen.actor, request_id=request_id, answer=Answer(DispatchStatus.INTERESTED)
    )
    await accept_proposal(world.client, request_id=request_id, membership_id=chosen.membership.id)
    await jobs.drain()
    return world, chosen, request_id


async def test_a_visit_scheduled_moved_and_cancelled_is_told_to_the_client_and_the_provider(
    mailbox,
):
    world, chosen, request_id = await _chosen_visit_world()
    await User.filter(email=chosen.email).update(locale="en")
    mailbox.clear()
    start = (clock.now() + timedelta(days=3)).replace(microsecond=0)
    [visit] = await schedule_intervention(
        chosen.actor,
        request_id=request_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        price=Decimal("90"),
    )
    await jobs.drain()
    moved = start + timedelta(days=1)
    await reschedule_intervention(
        world.staff, intervention_id=visit.id, starts_at=moved, ends_at=moved + timedelta(hours=2)
    )
    await jobs.drain()
    await change_intervention_status(
        world.client,
        intervention_id=visit.id,
        to=InterventionStatus.CANCELLED,
        reason="Away that week.",
    )
    await jobs.drain()

    service = world.service.name
    # Each party is told of what the others did, in its language: the provider chose English
    # (it scheduled; staff moved; the client cancelled), the client chose nothing (French).
    # Days and hours in the marketplace's time zone (Europe/Paris), as each reader writes them.
    assert _subjects(mailbox, chosen.email) == [
        f"Visit moved: {service}, now on {_long_day(moved, 'en')}",
        f"Visit cancelled: {service} on {_long_day(moved, 'en')}",
    ]
    assert _subjects(mailbox, world.client_email) == [
        f"Intervention planifiée : {service} le {_long_day(start, 'fr')}",
        f"Intervention déplacée : {service}, désormais le {_long_day(moved, 'fr')}",
    ]
    paris_hour = moved.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")
    assert f"à {paris_hour}" in mailbox.body(mailbox.to(world.client_email)[-1])
    cancelled = mailbox.to(chosen.email)[-1]
    assert "Reason: Away that week." in mailbox.body(cancelled)

    # A redelivered job sends nothing again.
    row = await Notification.filter(kind=NotificationKind.VISIT_MOVED).first()
    assert row is not None
    mailbox.clear()
    sent = await notification_facts.send_notification("VISIT_MOVED", row.key, visit.id)
    assert sent == 0
    assert mailbox.messages == []


async def test_services_accepted_or_rejected_are_told_to_the_provider_with_the_reason(mailbox):
    cast = await make_cast()
    await User.filter(id=cast.provider.id).update(locale="en")
    first, second = await make_service(cast.marketplace), await make_service(cast.marketplace)
    a = await offer(cast.membership, first, ProviderServiceStatus.PENDING)
    b = await offer(cast.membership, second, ProviderServiceStatus.PENDING)
    staff = await cast.staff_actor()
    await catalog.decide_provider_service(staff, a.id, to=ProviderServiceStatus.ACCEPTED)
    await catalog.decide_provider_service(
        staff, b.id, to=ProviderServiceStatus.REJECTED, reason="Certificate missing."
    )
    await jobs.drain()
    assert sorted(_subjects(mailbox, cast.provider.email)) == sorted(
        [f"Service accepted: {first.name}", f"Service rejected: {second.name}"]
    )
    rejected = next(m for m in mailbox.to(cast.provider.email) if "rejected" in m["Subject"])
    assert "Reason: Certificate missing." in mailbox.body(rejected)
    assert mailbox.to(cast.staff.email) == []


async def test_a_new_application_is_told_to_the_marketplace_staff(mailbox):
    cast = await make_cast()
    second_staff = await make_staff(cast.marketplace)
    applicant = await make_membership(cast.marketplace, status=MembershipStatus.INVITED)
    user = await make_provider_user(applicant)
    await submit_application(await actor_of(user, cast.marketplace), membership_id=applicant.id)
    await jobs.drain()
    expected = [f"Nouvelle candidature : {applicant.company.name}"]
    assert _subjects(mailbox, cast.staff.email) == expected
    assert _subjects(mailbox, second_staff.email) == expected
    assert not any(s.startswith("Nouvelle candidature") for s in _subjects(mailbox, user.email))


async def test_a_document_is_told_30_days_before_it_expires_then_on_expiry_to_staff_too(mailbox):
    cast = await make_cast()
    today = clock.now().date()
    document = await make_company_document(
        cast.membership.company, "URSSAF", expires_on=today + timedelta(days=40)
    )
    assert await notification_sweep.sweep_notifications() == 0

    clock.advance(timedelta(days=11))  # 29 days left
    assert await notification_sweep.sweep_notifications() == 1
    assert await notification_sweep.sweep_notifications() == 0  # swept again: found once
    await jobs.drain()
    day = document.expires_on
    assert _subjects(mailbox, cast.provider.email) == [
        f"Document expirant le {format_date(day, 'long', locale='fr')} : {document.title}"
    ]
    assert mailbox.to(cast.staff.email) == []

    clock.advance(timedelta(days=29))  # the day it expires
    assert await notification_sweep.sweep_notifications() == 1
    await jobs.drain()
    expired = f"Document expiré : {document.title} ({cast.membership.company.name})"
    assert _subjects(mailbox, cast.provider.email)[1:] == [expired]
    assert _subjects(mailbox, cast.staff.email) == [expired]
    assert await notification_sweep.sweep_notifications() == 0


async def test_a_document_replaced_by_a_newer_one_is_not_told_as_expiring(mailbox):
    cast = await make_cast()
    today = clock.now().date()
    company = cast.membership.company
    await make_company_document(company, "URSSAF", expires_on=today + timedelta(days=10))
    await make_company_document(company, "URSSAF", expires_on=today + timedelta(days=200))
    assert await notification_sweep.sweep_notifications() == 0


async def test_unread_messages_are_told_in_one_digest_ten_minutes_later(mailbox):
    cast = await make_cast()
    conversation = await make_conversation(cast.membership, client=cast.client)
    client, provider = await cast.client_actor(), await cast.provider_actor()
    await messaging.send_message(client, conversation_id=conversation.id, text="Hello?")
    for n in range(3):
        await messaging.send_message(provider, conversation_id=conversation.id, text=f"Reply {n}")
    assert await notification_sweep.sweep_unread_messages() == 0  # not 10 minutes yet

    clock.advance(timedelta(minutes=11))
    assert await notification_sweep.sweep_unread_messages() == 1  # the client only
    assert await notification_sweep.sweep_unread_messages() == 0
    await jobs.drain()
    market = cast.marketplace.name
    assert _subjects(mailbox, cast.client.email) == [f"3 messages non lus sur {market}"]
    assert mailbox.to(cast.provider.email) == []

    # Newer messages wait for their own 10 minutes, then one more digest (messages are stamped
    # by the database's clock: the project's is put back to it first).
    clock.reset()
    await messaging.send_message(provider, conversation_id=conversation.id, text="Still there?")
    assert await notification_sweep.sweep_unread_messages() == 0
    clock.advance(timedelta(minutes=11))
    assert await notification_sweep.sweep_unread_messages() == 1
    await jobs.drain()
    assert _subjects(mailbox, cast.client.email)[1:] == [f"4 messages non lus sur {market}"]

    # Read in time: nothing more.
    clock.reset()
    await messaging.send_message(provider, conversation_id=conversation.id, text="Bye")
    await messaging.mark_conversation_read(client, conversation_id=conversation.id)
    clock.advance(timedelta(minutes=11))
    assert await notification_sweep.sweep_unread_messages() == 0


PREFERENCES = "{ notificationPreferences { kind email live } }"
UPDATE = """mutation($input: UpdateNotificationPreferencesInput!) {
  updateNotificationPreferences(input: $input) {
    preferences { kind email live } userErrors { field code }
  }
}"""


async def test_e_mails_are_on_by_default_and_a_user_turns_one_kind_off_but_stays_told_live(
    mailbox,
):
    cast = await make_cast()
    actor = await cast.provider_actor()
    before = (await ok(PREFERENCES, actor=actor))["notificationPreferences"]
    assert len(before) == len(NotificationKind)
    assert all(p["email"] and p["live"] for p in before)

    changed = (
        await ok(
            UPDATE,
            {"input": {"preferences": [{"kind": "SERVICE_ACCEPTED", "email": False}]}},
            actor=actor,
        )
    )["updateNotificationPreferences"]
    assert changed["userErrors"] == []
    off = [p["kind"] for p in changed["preferences"] if not p["email"]]
    assert off == ["SERVICE_ACCEPTED"]
    twice = [{"kind": "VISIT_MOVED", "email": False}] * 2
    refused = (await ok(UPDATE, {"input": {"preferences": twice}}, actor=actor))[
        "updateNotificationPreferences"
    ]
    assert refused["userErrors"] == [{"field": "preferences", "code": "INVALID"}]

    service = await make_service(cast.marketplace)
    row = await offer(cast.membership, service, ProviderServiceStatus.PENDING)
    await catalog.decide_provider_service(
        await cast.staff_actor(), row.id, to=ProviderServiceStatus.ACCEPTED
    )
    await jobs.drain()
    assert mailbox.to(cast.provider.email) == []
    told = await Notification.get(user_id=cast.provider.id)
    assert told.kind is NotificationKind.SERVICE_ACCEPTED
    assert told.emailed_at is None
    assert await Event.filter(
        topic="notification.created", object_id=told.id, audience=[f"user:{cast.provider.id}"]
    ).exists()


INBOX = "{ notifications(first: 10) { edges { node { kind title emailed subjectId } } } }"


async def test_a_person_reads_their_own_notifications_newest_first(mailbox):
    cast = await make_cast()
    first, second = await make_service(cast.marketplace), await make_service(cast.marketplace)
    staff = await cast.staff_actor()
    for service in (first, second):
        row = await offer(cast.membership, service, ProviderServiceStatus.PENDING)
        await catalog.decide_provider_service(staff, row.id, to=ProviderServiceStatus.ACCEPTED)
    await jobs.drain()
    mine = (await ok(INBOX, actor=await cast.provider_actor()))["notifications"]["edges"]
    assert [e["node"]["title"] for e in mine] == [
        f"Service accepté : {second.name}",
        f"Service accepté : {first.name}",
    ]
    assert all(e["node"]["emailed"] for e in mine)
    theirs = (await ok(INBOX, actor=await cast.client_actor()))["notifications"]["edges"]
    assert theirs == []
