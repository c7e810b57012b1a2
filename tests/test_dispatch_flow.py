"""The dispatch flow end to end, with a moving clock: dispatch, answers, proposal, reminders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models.dispatch import (
    Dispatch,
    DispatchAnswerAudit,
    DispatchStatus,
    Proposal,
    ProposalTrigger,
    RequestRound,
    RequestStatus,
    ServiceRequest,
)
from models.events import Event
from models.membership import MembershipStatus
from presta import clock, jobs
from resolvers.dispatch.proposal import Answer, accept_proposal, respond_to_service_request
from resolvers.dispatch.reminder import sweep_dispatch_deadlines
from resolvers.dispatch.request import cancel_service_request
from resolvers.errors import UserError
from tests.factories.dispatch import Provider, make_world

INTERESTED = Answer(DispatchStatus.INTERESTED, message="Available Monday", price=None)
DECLINED = Answer(DispatchStatus.DECLINED)


async def _answer(provider: Provider, request_id: int, answer: Answer = INTERESTED) -> Any:
    return await respond_to_service_request(provider.actor, request_id=request_id, answer=answer)


async def test_a_new_request_reaches_every_matching_provider_and_no_other(mailbox):
    world = await make_world(providers=3)
    elsewhere = await world.add_provider(postal_code="69001")
    request_id = await world.request()

    request = await ServiceRequest.get(id=request_id)
    assert request.status is RequestStatus.OPEN
    assert request.round == 1
    assert request.send_proposal_at is not None
    assert request.remind_at is not None
    assert request.round_started_at is not None
    assert request.send_proposal_at - request.round_started_at == timedelta(days=3)
    assert request.remind_at - request.round_started_at == timedelta(days=2)
    asked = set(
        await Dispatch.filter(request_id=request_id).values_list("membership_id", flat=True)
    )
    assert asked == {p.membership.id for p in world.providers[:3]}
    await jobs.drain()
    for provider in world.providers[:3]:
        [mail] = mailbox.to(provider.email)
        assert "Nouvelle demande" in mail["Subject"]
    assert mailbox.to(elsewhere.email) == []


async def test_a_request_nobody_matches_is_unmatched_and_staff_are_told():
    world = await make_world(providers=1)
    request_id = await world.request(postal_code="13001", city="Marseille")

    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.UNMATCHED
    told = await Event.filter(object_id=request_id, topic="service_request.updated").first()
    assert told is not None
    assert f"staff:{world.marketplace.id}" in told.audience
    assert told.payload["status"] == "UNMATCHED"
    assert await Dispatch.filter(request_id=request_id).count() == 0


async def test_the_proposal_is_sent_once_when_the_threshold_is_reached(mailbox):
    world = await make_world(providers=3, proposals_required=2)
    request_id = await world.request()
    first, second, third = world.providers

    await _answer(first, request_id)
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.OPEN
    await _answer(second, request_id, Answer(DispatchStatus.INTERESTED, "Hello", None))
    request = await ServiceRequest.get(id=request_id)
    assert request.status is RequestStatus.PROPOSAL_SENT
    proposal = await Proposal.get(request_id=request_id)
    assert proposal.trigger is ProposalTrigger.THRESHOLD

    await jobs.drain()
    [mail] = mailbox.to(world.client_email)
    body = mailbox.body(mail)
    assert first.membership.company.name in body
    assert second.membership.company.name in body
    assert third.membership.company.name not in body


async def test_below_the_threshold_the_proposal_goes_out_after_days_before_sending(mailbox):
    world = await make_world(providers=3, proposals_required=3, days_before_sending=3)
    request_id = await world.request()
    await _answer(world.providers[0], request_id)

    clock.advance(timedelta(days=2, hours=23))
    await sweep_dispatch_deadlines()
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.OPEN

    clock.advance(timedelta(hours=2))
    assert await sweep_dispatch_deadlines() == 1
    assert await sweep_dispatch_deadlines() == 0
    request = await ServiceRequest.get(id=request_id)
    assert request.status is RequestStatus.PROPOSAL_SENT
    assert (await Proposal.get(request_id=request_id)).trigger is ProposalTrigger.DEADLINE
    await jobs.drain()
    assert len(mailbox.to(world.client_email)) == 1


async def test_after_the_sending_deadline_the_first_interested_answer_sends_the_proposal():
    world = await make_world(
        providers=2, proposals_required=2, days_before_sending=1, days_before_reminder=5
    )
    request_id = await world.request()
    clock.advance(timedelta(days=1, minutes=1))
    await sweep_dispatch_deadlines()
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.OPEN

    await _answer(world.providers[0], request_id)
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.PROPOSAL_SENT


async def test_silence_brings_numbered_reminder_rounds_to_new_matches_then_expiry(mailbox):
    world = await make_world(providers=2, days_before_reminder=2, max_reminder_rounds=2)
    request_id = await world.request()
    quiet, decliner = world.providers
    await _answer(decliner, request_id, DECLINED)
    newcomer = await world.add_provider()

    clock.advance(timedelta(days=2, minutes=1))
    assert await sweep_dispatch_deadlines() == 1
    request = await ServiceRequest.get(id=request_id)
    assert request.round == 2
    round_two = await Dispatch.filter(request_id=request_id, round=2).values_list(
        "membership_id", flat=True
    )
    assert set(round_two) == {quiet.membership.id, newcomer.membership.id}
    await jobs.drain()
    assert any("relance" in m["Subject"] for m in mailbox.to(quiet.email))
    assert len(mailbox.to(newcomer.email)) == 1
    assert len(mailbox.to(decliner.email)) == 1  # the first round only

    clock.advance(timedelta(days=2, minutes=1))
    await sweep_dispatch_deadlines()
    assert (await ServiceRequest.get(id=request_id)).round == 3

    clock.advance(timedelta(days=2, minutes=1))
    await sweep_dispatch_deadlines()
    request = await ServiceRequest.get(id=request_id)
    assert request.status is RequestStatus.EXPIRED
    numbers = await RequestRound.filter(request_id=request_id).order_by("number")
    assert [r.number for r in numbers] == [1, 2, 3]
    expired = (
        await Event.filter(object_id=request_id, topic="service_request.updated")
        .order_by("-id")
        .first()
    )
    assert expired is not None
    assert expired.payload == {"change": "expired", "status": "EXPIRED"}
    assert f"staff:{world.marketplace.id}" in expired.audience


async def test_a_late_interested_answer_joins_the_sent_proposal_and_the_client_is_told(mailbox):
    world = await make_world(providers=3, proposals_required=1)
    request_id = await world.request()
    await _answer(world.providers[0], request_id)
    await jobs.drain()
    mailbox.clear()

    await _answer(world.providers[1], request_id, Answer(DispatchStatus.INTERESTED, "Me too", None))
    late = await Dispatch.get(request_id=request_id, membership_id=world.providers[1].membership.id)
    assert late.proposed_at is not None
    await jobs.drain()
    [mail] = mailbox.to(world.client_email)
    assert world.providers[1].membership.company.name in mailbox.body(mail)


async def test_a_provider_may_change_its_mind_before_the_proposal_and_it_is_audited():
    world = await make_world(providers=3, proposals_required=2)
    request_id = await world.request()
    first, second, _ = world.providers
    await _answer(first, request_id, DECLINED)
    await _answer(first, request_id, INTERESTED)
    trail = await DispatchAnswerAudit.filter(dispatch__request_id=request_id).order_by("id")
    assert [(a.from_status, a.to_status) for a in trail] == [
        (DispatchStatus.PENDING, DispatchStatus.DECLINED),
        (DispatchStatus.DECLINED, DispatchStatus.INTERESTED),
    ]

    await _answer(second, request_id)  # threshold: the proposal goes out
    with pytest.raises(UserError) as locked:
        await _answer(first, request_id, DECLINED)
    assert locked.value.code == "ANSWER_LOCKED"


async def test_answering_a_cancelled_request_or_one_never_sent_is_a_typed_error():
    world = await make_world(providers=2)
    request_id = await world.request()
    outsider = await world.add_provider(postal_code="69001")
    with pytest.raises(UserError) as foreign:
        await _answer(outsider, request_id)
    assert foreign.value.code == "NOT_FOUND"

    await cancel_service_request(world.client, request_id=request_id, reason="Found someone")
    with pytest.raises(UserError) as closed:
        await _answer(world.providers[0], request_id)
    assert closed.value.code == "REQUEST_CLOSED"


async def test_a_suspended_provider_cannot_answer():
    world = await make_world(providers=1)
    request_id = await world.request()
    membership = world.providers[0].membership
    membership.status = MembershipStatus.SUSPENDED
    await membership.save()
    with pytest.raises(UserError) as refused:
        await _answer(world.providers[0], request_id)
    assert refused.value.code == "PROVIDER_UNAVAILABLE"


async def test_the_client_accepts_one_provider_and_each_provider_is_told(mailbox):
    world = await make_world(providers=3, proposals_required=2)
    request_id = await world.request()
    chosen, other, silent = world.providers
    await _answer(chosen, request_id)
    await _answer(other, request_id)

    with pytest.raises(UserError) as not_proposed:
        await accept_proposal(
            world.client, request_id=request_id, membership_id=silent.membership.id
        )
    assert not_proposed.value.code == "NOT_IN_PROPOSAL"

    await accept_proposal(world.client, request_id=request_id, membership_id=chosen.membership.id)
    request = await ServiceRequest.get(id=request_id)
    assert request.status is RequestStatus.ACCEPTED
    statuses = dict(
        await Dispatch.filter(request_id=request_id).values_list("membership_id", "status")
    )
    assert statuses == {
        chosen.membership.id: DispatchStatus.SELECTED,
        other.membership.id: DispatchStatus.NOT_SELECTED,
        silent.membership.id: DispatchStatus.NOT_SELECTED,
    }
    await jobs.drain()
    assert any("Vous avez été choisi" in m["Subject"] for m in mailbox.to(chosen.email))
    assert any("Un autre prestataire" in m["Subject"] for m in mailbox.to(other.email))


async def test_another_client_cannot_accept_or_cancel_a_request():
    world = await make_world(providers=1, proposals_required=1)
    other = await make_world(providers=0)
    request_id = await world.request()
    await _answer(world.providers[0], request_id)
    with pytest.raises(UserError) as hidden:
        await accept_proposal(
            other.client, request_id=request_id, membership_id=world.providers[0].membership.id
        )
    assert hidden.value.code == "NOT_FOUND"
    with pytest.raises(UserError):
        await cancel_service_request(other.client, request_id=request_id, reason="")
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.PROPOSAL_SENT


async def test_a_job_lost_between_commit_and_enqueue_is_sent_by_a_later_sweep(mailbox, monkeypatch):
    world = await make_world(providers=2)
    real = jobs.enqueue

    async def crash(actor_name: str, **kwargs: Any) -> None:
        raise ConnectionError("the process died before enqueueing")

    monkeypatch.setattr(jobs, "enqueue", crash)
    await world.request()  # the queue's failure after the commit is not the client's
    monkeypatch.setattr(jobs, "enqueue", real)
    assert await ServiceRequest.all().count() == 1  # committed
    await jobs.drain()
    assert mailbox.to(world.providers[0].email) == []

    clock.advance(timedelta(minutes=11))
    await sweep_dispatch_deadlines()
    await jobs.drain()
    for provider in world.providers:
        assert len(mailbox.to(provider.email)) == 1
    clock.advance(timedelta(minutes=11))
    await sweep_dispatch_deadlines()
    await jobs.drain()
    assert len(mailbox.to(world.providers[0].email)) == 1
