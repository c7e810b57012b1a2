"""Interventions: scheduling after acceptance, series, the lifecycle to DONE, frozen rates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from strawberry import relay

from models.commission import CommissionRate
from models.dispatch import DispatchStatus, Frequency
from models.intervention import Intervention, InterventionStatus
from presta import clock
from resolvers.actor import Actor
from resolvers.dispatch.proposal import Answer, accept_proposal, respond_to_service_request
from resolvers.errors import UserError
from resolvers.intervention import (
    InterventionFilter,
    change_intervention_status,
    list_interventions,
    reschedule_intervention,
    schedule_intervention,
)
from tests.factories.dispatch import Provider, World, make_world
from tests.support.graphql import ok

IN = Answer(DispatchStatus.INTERESTED)


async def _accepted(world: World, **request: Any) -> tuple[int, Provider]:
    request_id = await world.request(**request)
    chosen = world.providers[0]
    await respond_to_service_request(chosen.actor, request_id=request_id, answer=IN)
    await accept_proposal(world.client, request_id=request_id, membership_id=chosen.membership.id)
    return request_id, chosen


def _slot(days: int = 7) -> tuple[datetime, datetime]:
    start = (clock.now() + timedelta(days=days)).replace(microsecond=0)
    return start, start + timedelta(hours=3)


async def test_a_visit_goes_from_scheduled_to_done_with_the_rate_in_force_frozen():
    world = await make_world(providers=1, proposals_required=1)
    request_id, chosen = await _accepted(world)
    start, end = _slot()
    [visit] = await schedule_intervention(
        chosen.actor, request_id=request_id, starts_at=start, ends_at=end, price=Decimal("90")
    )
    assert visit.status is InterventionStatus.SCHEDULED
    assert visit.commission_rate == world.marketplace.default_commission_rate

    # A rate set later does not touch the visit already scheduled.
    await CommissionRate.create(
        marketplace=world.marketplace,
        membership=chosen.membership,
        rate=Decimal("5.00"),
        effective_from=date(2000, 1, 1),
    )
    for to in (InterventionStatus.IN_PROGRESS, InterventionStatus.DONE):
        visit = await change_intervention_status(chosen.actor, intervention_id=visit.id, to=to)
    assert visit.status is InterventionStatus.DONE
    assert visit.completed_at is not None
    assert (await Intervention.get(id=visit.id)).commission_rate == Decimal("15.00")


async def test_the_rate_in_force_on_the_visit_date_is_the_one_frozen():
    world = await make_world(providers=1, proposals_required=1)
    request_id, chosen = await _accepted(world)
    start, end = _slot(days=40)
    await CommissionRate.create(
        marketplace=world.marketplace,
        membership=chosen.membership,
        rate=Decimal("11.50"),
        effective_from=(start - timedelta(days=1)).date(),
    )
    [visit] = await schedule_intervention(
        world.staff, request_id=request_id, starts_at=start, ends_at=end, price=Decimal("50")
    )
    assert visit.commission_rate == Decimal("11.50")


async def test_a_recurring_request_produces_a_weekly_series():
    world = await make_world(providers=1, proposals_required=1)
    request_id, chosen = await _accepted(world, frequency=Frequency.WEEKLY, duration_minutes=120)
    start, end = _slot()
    series = await schedule_intervention(
        chosen.actor,
        request_id=request_id,
        starts_at=start,
        ends_at=end,
        price=Decimal("60"),
        occurrences=4,
    )
    assert [v.starts_at for v in series] == [start + timedelta(weeks=n) for n in range(4)]
    assert len({v.series_key for v in series}) == 1
    assert [v.occurrence for v in series] == [1, 2, 3, 4]


async def test_scheduling_needs_an_accepted_request_and_the_chosen_provider():
    world = await make_world(providers=2, proposals_required=2)
    request_id = await world.request()
    start, end = _slot()
    with pytest.raises(UserError) as early:
        await schedule_intervention(
            world.staff, request_id=request_id, starts_at=start, ends_at=end, price=Decimal(1)
        )
    assert early.value.code == "REQUEST_NOT_ACCEPTED"
    for p in world.providers:
        await respond_to_service_request(p.actor, request_id=request_id, answer=IN)
    await accept_proposal(
        world.client, request_id=request_id, membership_id=world.providers[0].membership.id
    )
    with pytest.raises(UserError) as other:
        await schedule_intervention(
            world.providers[1].actor,
            request_id=request_id,
            starts_at=start,
            ends_at=end,
            price=Decimal(1),
        )
    assert other.value.code == "NOT_FOUND"


async def test_illegal_transitions_and_bad_periods_are_typed_errors():
    world = await make_world(providers=1, proposals_required=1)
    request_id, chosen = await _accepted(world)
    start, end = _slot()
    with pytest.raises(UserError) as backwards:
        await schedule_intervention(
            chosen.actor, request_id=request_id, starts_at=end, ends_at=start, price=Decimal(1)
        )
    assert backwards.value.code == "INVALID_PERIOD"
    [visit] = await schedule_intervention(
        chosen.actor, request_id=request_id, starts_at=start, ends_at=end, price=Decimal(1)
    )
    with pytest.raises(UserError) as early:
        await change_intervention_status(
            chosen.actor, intervention_id=visit.id, to=InterventionStatus.DONE
        )
    assert early.value.code == "INVALID_TRANSITION"
    assert "SCHEDULED" in early.value.message

    moved = await reschedule_intervention(
        chosen.actor,
        intervention_id=visit.id,
        starts_at=start + timedelta(days=1),
        ends_at=end + timedelta(days=1),
    )
    assert moved.starts_at == start + timedelta(days=1)
    cancelled = await change_intervention_status(
        world.client, intervention_id=visit.id, to=InterventionStatus.CANCELLED, reason="Away"
    )
    assert cancelled.cancel_reason == "Away"
    with pytest.raises(UserError) as again:
        await reschedule_intervention(
            chosen.actor, intervention_id=visit.id, starts_at=start, ends_at=end
        )
    assert again.value.code == "INVALID_TRANSITION"


async def test_the_interventions_tab_shows_each_viewer_its_own():
    world = await make_world(providers=1, proposals_required=1)
    request_id, chosen = await _accepted(world)
    start, end = _slot()
    await schedule_intervention(
        chosen.actor, request_id=request_id, starts_at=start, ends_at=end, price=Decimal(10)
    )
    other = await make_world(providers=1)
    for viewer, expected in (
        (world.staff, 1),
        (chosen.actor, 1),
        (world.client, 1),
        (other.staff, 0),
        (other.providers[0].actor, 0),
        (other.client, 0),
    ):
        page = await list_interventions(viewer, InterventionFilter())
        assert len(page.items) == expected


async def test_the_whole_path_through_graphql_ends_done():
    world = await make_world(providers=1, proposals_required=1)
    request_id, chosen = await _accepted(world)
    gid = str(relay.GlobalID("ServiceRequest", str(request_id)))
    start, end = _slot()
    data = await ok(
        """mutation($input: ScheduleInterventionInput!) { scheduleIntervention(input: $input) {
            userErrors { code field } interventions { id status commissionRate } } }""",
        {
            "input": {
                "requestId": gid,
                "startsAt": start.isoformat(),
                "endsAt": end.isoformat(),
                "price": "80.00",
            }
        },
        actor=chosen.actor,
    )
    assert data["scheduleIntervention"]["userErrors"] == []
    visit = data["scheduleIntervention"]["interventions"][0]
    for mutation in ("startIntervention", "completeIntervention"):
        done = await ok(
            f"""mutation($id: ID!) {{ {mutation}(input: {{interventionId: $id}}) {{
                userErrors {{ code }} intervention {{ status }} }} }}""",
            {"id": visit["id"]},
            actor=chosen.actor,
        )
        assert done[mutation]["userErrors"] == []
    assert done["completeIntervention"]["intervention"]["status"] == "DONE"
    tab = await ok(
        """query($id: ID!) { node(id: $id) { ... on Membership {
            interventions(first: 10) { nodes { status serviceRequest { status } } } } } }""",
        {"id": str(relay.GlobalID("Membership", str(chosen.membership.id)))},
        actor=world.staff,
    )
    assert tab["node"]["interventions"]["nodes"] == [
        {"status": "DONE", "serviceRequest": {"status": "ACCEPTED"}}
    ]


async def test_deactivation_is_refused_while_a_scheduled_visit_is_upcoming_then_allowed():
    from resolvers.lifecycle import deactivate_provider

    world = await make_world(providers=1, proposals_required=1)
    request_id, chosen = await _accepted(world)
    start, end = _slot()
    [visit] = await schedule_intervention(
        chosen.actor, request_id=request_id, starts_at=start, ends_at=end, price=Decimal(40)
    )
    admin = await _admin_of(world)
    with pytest.raises(UserError) as refused:
        await deactivate_provider(admin, membership_id=chosen.membership.id, reason="Leaving")
    assert refused.value.code == "INTERVENTIONS_PENDING"
    assert f"intervention {visit.id}" in refused.value.message

    await change_intervention_status(
        chosen.actor, intervention_id=visit.id, to=InterventionStatus.IN_PROGRESS
    )
    with pytest.raises(UserError):
        await deactivate_provider(admin, membership_id=chosen.membership.id, reason="Leaving")
    await change_intervention_status(
        chosen.actor, intervention_id=visit.id, to=InterventionStatus.DONE
    )
    done = await deactivate_provider(admin, membership_id=chosen.membership.id, reason="Leaving")
    assert done.status.value == "DEACTIVATED"


async def _admin_of(world: World) -> Actor:
    from models.account import StaffRole
    from tests.factories.account import actor_of, make_staff

    return await actor_of(await make_staff(world.marketplace, StaffRole.ADMIN), world.marketplace)
