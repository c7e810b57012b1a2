"""Combinations the dispatch model found (tests/test_dispatch_model.py), one test each.

Each feature had its tests; these are two features meeting: a provider stopped while its
interested answer stands, a deadline sweep that sends the proposal, an accepted request not yet
scheduled when the provider leaves, a reminder with dispatch off.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from strawberry import relay

from models.account import StaffRole
from models.catalog import ProviderService, ProviderServiceStatus
from models.dispatch import (
    Dispatch,
    DispatchAnswerAudit,
    DispatchStatus,
    ProposalTrigger,
    RequestStatus,
    ServiceRequest,
)
from models.events import Event
from models.intervention import InterventionStatus
from models.membership import MembershipStatus
from presta import clock, jobs
from resolvers.actor import Actor
from resolvers.catalog import decide_provider_service
from resolvers.dispatch.proposal import (
    Answer,
    accept_proposal,
    proposal_of,
    respond_to_service_request,
)
from resolvers.dispatch.reminder import sweep_dispatch_deadlines
from resolvers.errors import UserError
from resolvers.intervention import change_intervention_status, schedule_intervention
from resolvers.lifecycle import (
    deactivate_provider,
    delete_provider_relationship,
    reinstate_provider,
    suspend_provider,
)
from resolvers.marketplace import update_dispatch_settings
from tests.factories.account import actor_of, make_staff
from tests.factories.dispatch import Provider, World, make_world
from tests.support.graphql import ok

INTERESTED = Answer(DispatchStatus.INTERESTED)


async def _interested(provider: Provider, request_id: int) -> None:
    await respond_to_service_request(provider.actor, request_id=request_id, answer=INTERESTED)


async def _changes(request_id: int) -> list[tuple[str, str]]:
    logged = await Event.filter(object_id=request_id, topic="service_request.updated").order_by(
        "id"
    )
    return [(e.payload["change"], e.payload["status"]) for e in logged]


async def _admin(world: World) -> Actor:
    return await actor_of(await make_staff(world.marketplace, StaffRole.ADMIN), world.marketplace)


async def test_a_provider_suspended_after_answering_leaves_the_sent_proposal_and_cannot_be_chosen():
    world = await make_world(providers=2, proposals_required=2)
    request_id = await world.request()
    staying, suspended = world.providers
    await _interested(staying, request_id)
    await _interested(suspended, request_id)
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.PROPOSAL_SENT

    await suspend_provider(world.staff, membership_id=suspended.membership.id, reason="Late")

    _, named = await proposal_of(request_id)
    assert [d.membership_id for d in named] == [staying.membership.id]
    with pytest.raises(UserError) as refused:
        await accept_proposal(
            world.client, request_id=request_id, membership_id=suspended.membership.id
        )
    assert refused.value.code == "NOT_IN_PROPOSAL"
    assert (await _changes(request_id))[-1] == ("withdrawn", "PROPOSAL_SENT")
    trail = await DispatchAnswerAudit.filter(
        dispatch__membership_id=suspended.membership.id
    ).order_by("id")
    assert [(a.from_status, a.to_status) for a in trail][-1] == (
        DispatchStatus.INTERESTED,
        DispatchStatus.PENDING,
    )

    # Reinstated, it may answer again: a late answer joins the proposal.
    await reinstate_provider(world.staff, membership_id=suspended.membership.id)
    await _interested(suspended, request_id)
    await accept_proposal(
        world.client, request_id=request_id, membership_id=suspended.membership.id
    )


@pytest.mark.parametrize("stop", ["deactivate", "delete"])
async def test_an_interested_provider_deactivated_or_deleted_no_longer_counts_for_the_proposal(
    stop,
):
    world = await make_world(providers=3, proposals_required=2, days_before_reminder=2)
    request_id = await world.request()
    leaving, second, _ = world.providers
    await _interested(leaving, request_id)
    clock.advance(timedelta(days=2, minutes=1))
    await sweep_dispatch_deadlines()  # someone is interested: no reminder round
    assert (await ServiceRequest.get(id=request_id)).remind_at is None

    end = deactivate_provider if stop == "deactivate" else delete_provider_relationship
    await end(await _admin(world), membership_id=leaving.membership.id, reason="Leaving")

    request = await ServiceRequest.get(id=request_id)
    assert request.status is RequestStatus.OPEN
    # Nobody is interested any more: silence counts again from now.
    assert request.remind_at is not None
    assert abs(request.remind_at - (clock.now() + timedelta(days=2))) < timedelta(seconds=5)
    await _interested(second, request_id)
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.OPEN


async def test_a_provider_whose_service_is_deactivated_cannot_answer_and_leaves_the_proposal():
    world = await make_world(providers=3, proposals_required=1)
    first_request = await world.request()
    second_request = await world.request()
    dropped, other, _ = world.providers
    await _interested(dropped, first_request)
    row = await ProviderService.get(
        membership_id=dropped.membership.id, service_id=world.service.id
    )

    await decide_provider_service(world.staff, row.id, to=ProviderServiceStatus.DEACTIVATED)

    with pytest.raises(UserError) as refused:
        await _interested(dropped, second_request)
    assert refused.value.code == "PROVIDER_UNAVAILABLE"
    _, named = await proposal_of(first_request)
    assert named == []
    await _interested(other, first_request)
    _, named = await proposal_of(first_request)
    assert [d.membership_id for d in named] == [other.membership.id]


async def test_the_client_cannot_choose_a_proposed_provider_no_longer_accepted():
    world = await make_world(providers=1, proposals_required=1)
    request_id = await world.request()
    [provider] = world.providers
    await _interested(provider, request_id)
    # Changed under the use cases (another process, an import): the choice still checks.
    provider.membership.status = MembershipStatus.SUSPENDED
    await provider.membership.save(update_fields=["status"])

    with pytest.raises(UserError) as refused:
        await accept_proposal(
            world.client, request_id=request_id, membership_id=provider.membership.id
        )
    assert refused.value.code == "PROVIDER_UNAVAILABLE"
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.PROPOSAL_SENT


async def test_no_visit_is_scheduled_with_a_chosen_provider_suspended_since():
    world = await make_world(providers=1, proposals_required=1)
    request_id = await world.request()
    [chosen] = world.providers
    await _interested(chosen, request_id)
    await accept_proposal(world.client, request_id=request_id, membership_id=chosen.membership.id)
    await suspend_provider(world.staff, membership_id=chosen.membership.id)
    start = (clock.now() + timedelta(days=2)).replace(microsecond=0)

    for actor in (world.staff, chosen.actor):
        with pytest.raises(UserError) as refused:
            await schedule_intervention(
                actor,
                request_id=request_id,
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                price=Decimal(60),
            )
        assert refused.value.code == "PROVIDER_UNAVAILABLE"

    await reinstate_provider(world.staff, membership_id=chosen.membership.id)
    assert await schedule_intervention(
        chosen.actor,
        request_id=request_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        price=Decimal(60),
    )


async def test_schedule_intervention_answers_an_unavailable_provider_with_a_typed_user_error():
    world = await make_world(providers=1, proposals_required=1)
    request_id = await world.request()
    [chosen] = world.providers
    await _interested(chosen, request_id)
    await accept_proposal(world.client, request_id=request_id, membership_id=chosen.membership.id)
    await suspend_provider(world.staff, membership_id=chosen.membership.id)
    start = (clock.now() + timedelta(days=2)).replace(microsecond=0)

    data = await ok(
        """mutation($input: ScheduleInterventionInput!) { scheduleIntervention(input: $input) {
            userErrors { code field } interventions { id } } }""",
        {
            "input": {
                "requestId": str(relay.GlobalID("ServiceRequest", str(request_id))),
                "startsAt": start.isoformat(),
                "endsAt": (start + timedelta(hours=2)).isoformat(),
                "price": "60.00",
            }
        },
        actor=world.staff,
    )
    assert data["scheduleIntervention"] == {
        "userErrors": [{"code": "PROVIDER_UNAVAILABLE", "field": "requestId"}],
        "interventions": [],
    }


async def test_a_proposal_sent_by_the_deadline_sweep_is_one_event_of_the_log():
    world = await make_world(providers=2, proposals_required=2, days_before_sending=3)
    request_id = await world.request()
    await _interested(world.providers[0], request_id)
    clock.advance(timedelta(days=3, minutes=1))

    assert await sweep_dispatch_deadlines() == 1
    await sweep_dispatch_deadlines()

    request = await ServiceRequest.get(id=request_id)
    assert request.status is RequestStatus.PROPOSAL_SENT
    assert (await proposal_of(request_id))[0].trigger is ProposalTrigger.DEADLINE  # type: ignore[union-attr]
    assert await _changes(request_id) == [
        ("created", "OPEN"),
        ("answered", "OPEN"),
        ("proposal_sent", "PROPOSAL_SENT"),
    ]


async def test_a_reminder_skipped_because_someone_is_interested_is_one_event_of_the_log():
    world = await make_world(
        providers=2, proposals_required=2, days_before_sending=3, days_before_reminder=1
    )
    request_id = await world.request()
    await _interested(world.providers[0], request_id)
    clock.advance(timedelta(days=1, minutes=1))

    await sweep_dispatch_deadlines()

    assert (await ServiceRequest.get(id=request_id)).remind_at is None
    assert (await _changes(request_id))[-1] == ("reminder_skipped", "OPEN")


async def test_deactivation_is_refused_while_a_client_accepted_the_provider_and_no_visit_is_set():
    world = await make_world(providers=1, proposals_required=1)
    request_id = await world.request()
    [chosen] = world.providers
    await _interested(chosen, request_id)
    await accept_proposal(world.client, request_id=request_id, membership_id=chosen.membership.id)
    admin = await _admin(world)

    for stop in (deactivate_provider, delete_provider_relationship):
        with pytest.raises(UserError) as refused:
            await stop(admin, membership_id=chosen.membership.id, reason="Leaving")
        assert refused.value.code == "INTERVENTIONS_PENDING"
        assert f"request {request_id} (accepted, no visit scheduled yet" in refused.value.message

    start = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    [visit] = await schedule_intervention(
        world.staff,
        request_id=request_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        price=Decimal(60),
    )
    await change_intervention_status(
        world.staff, intervention_id=visit.id, to=InterventionStatus.CANCELLED, reason="Away"
    )
    done = await deactivate_provider(admin, membership_id=chosen.membership.id, reason="Leaving")
    assert done.status is MembershipStatus.DEACTIVATED


async def test_with_dispatch_off_a_reminder_round_skips_providers_no_longer_accepted(mailbox):
    world = await make_world(providers=2, days_before_reminder=1)
    request_id = await world.request()
    await jobs.drain()
    staying, suspended = world.providers
    await suspend_provider(world.staff, membership_id=suspended.membership.id)
    await update_dispatch_settings(await _admin(world), dispatch_enabled=False)
    await jobs.drain()
    mailbox.clear()
    clock.advance(timedelta(days=1, minutes=1))

    await sweep_dispatch_deadlines()
    await jobs.drain()

    rounds = await Event.filter(object_id=request_id, topic="service_request.dispatched")
    [reminded] = [e for e in rounds if e.payload == {"round": 2}]
    assert reminded.audience == [f"membership:{staying.membership.id}"]
    assert len(mailbox.to(staying.email)) == 1
    assert mailbox.to(suspended.email) == []
    assert (
        await Dispatch.get(request_id=request_id, membership_id=suspended.membership.id)
    ).round == 1
