"""A provider stopped after answering: the client and the staff are told, live and (the
client) by e-mail, whether it leaves a proposal sent or was already chosen."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from models.dispatch import DispatchStatus, RequestStatus, ServiceRequest
from models.events import Event
from models.membership import MembershipStatus
from presta import clock, jobs
from resolvers.dispatch.proposal import Answer, accept_proposal, respond_to_service_request
from resolvers.intervention import schedule_intervention
from resolvers.lifecycle import reinstate_provider, suspend_provider
from schema.base import encode_id
from tests.factories.dispatch import Provider, make_world
from tests.support.graphql import ok

INTERESTED = Answer(DispatchStatus.INTERESTED)


async def _interested(provider: Provider, request_id: int) -> None:
    await respond_to_service_request(provider.actor, request_id=request_id, answer=INTERESTED)


async def _last_change(request_id: int) -> Event:
    event = (
        await Event.filter(topic="service_request.updated", object_id=request_id)
        .order_by("-id")
        .first()
    )
    assert event is not None
    return event


async def test_the_client_is_mailed_when_a_provider_of_its_proposal_is_suspended(mailbox):
    world = await make_world(providers=2, proposals_required=2)
    request_id = await world.request()
    leaving, staying = world.providers
    await _interested(leaving, request_id)
    await _interested(staying, request_id)
    await jobs.drain()
    mailbox.clear()

    await suspend_provider(world.staff, membership_id=leaving.membership.id, reason="Late")
    await jobs.drain()

    event = await _last_change(request_id)
    assert event.payload["change"] == "withdrawn"
    assert f"client:{world.client_id}" in event.audience
    assert f"staff:{world.marketplace.id}" in event.audience
    [mail] = [m for m in mailbox.to(world.client_email)]
    assert mail["Subject"].startswith(
        "Un prestataire a quitté votre proposition"
    )  # French: the default
    assert leaving.membership.company.name in mailbox.body(mail)


async def test_an_interested_answer_not_yet_proposed_is_withdrawn_without_mailing_the_client(
    mailbox,
):
    world = await make_world(providers=2, proposals_required=2)
    request_id = await world.request()
    leaving = world.providers[0]
    await _interested(leaving, request_id)

    await suspend_provider(world.staff, membership_id=leaving.membership.id, reason="Late")
    await jobs.drain()

    assert (await _last_change(request_id)).payload["change"] == "withdrawn"
    assert mailbox.to(world.client_email) == []


async def test_a_chosen_provider_suspended_before_the_visit_is_told_to_the_client_and_staff(
    mailbox,
):
    world = await make_world(providers=1, proposals_required=1)
    request_id = await world.request()
    [chosen] = world.providers
    await _interested(chosen, request_id)
    await accept_proposal(world.client, request_id=request_id, membership_id=chosen.membership.id)
    await jobs.drain()
    mailbox.clear()

    await suspend_provider(world.staff, membership_id=chosen.membership.id, reason="Audit")
    await jobs.drain()

    event = await _last_change(request_id)
    assert (event.payload["change"], event.payload["status"]) == (
        "provider_unavailable",
        "ACCEPTED",
    )
    assert f"client:{world.client_id}" in event.audience
    assert f"staff:{world.marketplace.id}" in event.audience
    [mail] = mailbox.to(world.client_email)
    assert mail["Subject"].startswith("Votre prestataire est indisponible")
    # The request stays with the chosen provider: once reinstated, the visit can be set.
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.ACCEPTED
    await reinstate_provider(world.staff, membership_id=chosen.membership.id)
    start = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    assert await schedule_intervention(
        chosen.actor,
        request_id=request_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        price=Decimal(60),
    )


async def test_a_chosen_provider_with_its_visit_scheduled_is_not_reported_unavailable(mailbox):
    world = await make_world(providers=1, proposals_required=1)
    request_id = await world.request()
    [chosen] = world.providers
    await _interested(chosen, request_id)
    await accept_proposal(world.client, request_id=request_id, membership_id=chosen.membership.id)
    start = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    await schedule_intervention(
        chosen.actor,
        request_id=request_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        price=Decimal(60),
    )
    before = (await _last_change(request_id)).id

    await suspend_provider(world.staff, membership_id=chosen.membership.id, reason="Audit")

    assert (await _last_change(request_id)).id == before


ACCEPT = """mutation($input: AcceptProposalInput!) { acceptProposal(input: $input) {
  userErrors { field code } serviceRequest { status } } }"""


async def test_accept_proposal_answers_a_stopped_provider_with_a_typed_error():
    world = await make_world(providers=2, proposals_required=2)
    request_id = await world.request()
    suspended, changed_elsewhere = world.providers
    await _interested(suspended, request_id)
    await _interested(changed_elsewhere, request_id)
    await suspend_provider(world.staff, membership_id=suspended.membership.id, reason="Late")
    # Changed under the use cases (another process, an import): the choice still checks.
    changed_elsewhere.membership.status = MembershipStatus.DEACTIVATED
    await changed_elsewhere.membership.save(update_fields=["status"])

    def choose(provider: Provider) -> dict[str, Any]:
        return {
            "input": {
                "requestId": str(encode_id("ServiceRequest", request_id)),
                "providerId": str(encode_id("Membership", provider.membership.id)),
            }
        }

    withdrawn = await ok(ACCEPT, choose(suspended), actor=world.client)
    unavailable = await ok(ACCEPT, choose(changed_elsewhere), actor=world.client)

    assert withdrawn["acceptProposal"] == {
        "userErrors": [{"field": "providerId", "code": "NOT_IN_PROPOSAL"}],
        "serviceRequest": None,
    }
    assert unavailable["acceptProposal"] == {
        "userErrors": [{"field": "providerId", "code": "PROVIDER_UNAVAILABLE"}],
        "serviceRequest": None,
    }
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.PROPOSAL_SENT
