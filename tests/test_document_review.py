"""Staff review a provider's company documents: approve, or reject with a reason the provider
is told; a rejected document no longer counts in the provider's file of that marketplace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.events import Event
from models.membership import MembershipStatus
from presta import clock, jobs
from resolvers import document_review as use_cases
from resolvers.application import submit_application
from resolvers.document import DOCUMENT_REVIEWED, DocumentErrorCode
from resolvers.errors import UserError, UserErrors
from resolvers.matching import MatchReason, MatchReport, explain_matching
from resolvers.membership import MembershipErrorCode
from schema.base import encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.catalog import give_zone, make_service, offer
from tests.factories.document import make_company_document, require_types
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import execute, ok

REJECT = """mutation($id: ID!, $reason: String!) {
  rejectDocument(input: {id: $id, reason: $reason}) {
    userErrors { field code message }
    document { id review { status reason } }
  }
}"""
APPROVE = """mutation($id: ID!) {
  approveDocument(input: {id: $id}) { userErrors { code } document { review { status } } }
}"""
FILE = """query($id: ID!) {
  membershipDocuments(membershipId: $id) {
    companyDocuments { documentType { code } state current { id } }
  }
  node(id: $id) { ... on Membership { documentState } }
}"""


async def _world(status: MembershipStatus = MembershipStatus.ACCEPTED):
    marketplace = await make_marketplace(name="Ménage Plus")
    staff = await actor_of(await make_staff(marketplace), marketplace)
    await require_types(marketplace, "KBIS", "RC_PRO")
    membership = await make_membership(marketplace, status)
    provider = await make_provider_user(membership)
    kbis = await make_company_document(membership.company, "KBIS")
    insurance = await make_company_document(
        membership.company, "RC_PRO", expires_on=clock.now().date() + timedelta(days=200)
    )
    return marketplace, staff, membership, provider, kbis, insurance


async def _file(actor, membership) -> tuple[dict[str, str], str]:
    data = await ok(FILE, {"id": str(encode_id("Membership", membership.id))}, actor=actor)
    states = {
        s["documentType"]["code"]: s["state"]
        for s in data["membershipDocuments"]["companyDocuments"]
    }
    return states, data["node"]["documentState"]


async def test_a_rejected_document_counts_as_rejected_in_the_file_and_the_providers_screen(
    mailbox,
):
    marketplace, staff, membership, provider, kbis, _insurance = await _world()
    assert await _file(staff, membership) == ({"KBIS": "VALID", "RC_PRO": "VALID"}, "VALID")

    data = await ok(
        REJECT,
        {"id": str(encode_id("Document", kbis.id)), "reason": "Older than 3 months."},
        actor=staff,
    )
    assert data["rejectDocument"]["userErrors"] == []
    review = data["rejectDocument"]["document"]["review"]
    assert review == {"status": "REJECTED", "reason": "Older than 3 months."}

    provider_actor = await actor_of(provider, marketplace)
    for viewer in (staff, provider_actor):
        assert await _file(viewer, membership) == (
            {"KBIS": "REJECTED", "RC_PRO": "VALID"},
            "REJECTED",
        )


async def test_the_provider_is_told_the_reason_by_e_mail_in_its_language_and_it_is_logged(
    mailbox,
):
    marketplace, staff, membership, provider, kbis, _insurance = await _world()
    await use_cases.reject_document(staff, document_id=kbis.id, reason="Older than 3 months.")
    await jobs.drain()

    [mail] = mailbox.to(provider.email)
    assert mail["Subject"] == "Ménage Plus : votre document a été refusé"
    body = mailbox.body(mail)
    assert (
        "Ménage Plus a refusé votre document Extrait d'immatriculation (Kbis) (kbis.pdf)." in body
    )
    assert "Older than 3 months." in body
    [event] = await Event.filter(topic=DOCUMENT_REVIEWED)
    assert (event.object_type, event.object_id, event.marketplace_id) == (
        "Document",
        kbis.id,
        marketplace.id,
    )
    assert event.payload == {"status": "REJECTED", "membershipId": membership.id}


async def test_a_new_document_of_the_type_or_an_approval_makes_the_type_count_again(mailbox):
    _marketplace, staff, membership, _provider, kbis, _insurance = await _world()
    await use_cases.reject_document(staff, document_id=kbis.id, reason="Unreadable.")
    await use_cases.approve_document(staff, document_id=kbis.id)  # staff changed their mind
    assert await _file(staff, membership) == ({"KBIS": "VALID", "RC_PRO": "VALID"}, "VALID")

    await use_cases.reject_document(staff, document_id=kbis.id, reason="Unreadable.")
    newer = await make_company_document(membership.company, "KBIS")
    states, worst = await _file(staff, membership)
    assert (states, worst) == ({"KBIS": "VALID", "RC_PRO": "VALID"}, "VALID")
    data = await ok(FILE, {"id": str(encode_id("Membership", membership.id))}, actor=staff)
    kbis_status = data["membershipDocuments"]["companyDocuments"][0]
    assert kbis_status["current"]["id"] == str(encode_id("Document", newer.id))


async def test_a_rejection_is_missing_for_the_application_and_only_in_its_marketplace(mailbox):
    marketplace, staff, membership, provider, kbis, _insurance = await _world(
        MembershipStatus.INVITED
    )
    other = await make_marketplace()
    await require_types(other, "KBIS")
    elsewhere = await make_membership(other, MembershipStatus.ACCEPTED, company=membership.company)
    other_staff = await actor_of(await make_staff(other), other)
    await use_cases.reject_document(staff, document_id=kbis.id, reason="Unreadable.")

    assert (await _file(other_staff, elsewhere))[1] == "VALID"
    with pytest.raises(UserErrors) as refused:
        await submit_application(await actor_of(provider, marketplace), membership_id=membership.id)
    assert any(
        e.code is MembershipErrorCode.APPLICATION_INCOMPLETE and e.field == "documents"
        for e in refused.value.errors
    )


async def test_a_rejection_needs_a_reason_and_another_marketplaces_staff_find_nothing(mailbox):
    marketplace, staff, _membership, provider, kbis, _insurance = await _world()
    with pytest.raises(UserError) as blank:
        await use_cases.reject_document(staff, document_id=kbis.id, reason="  ")
    assert (blank.value.code, blank.value.field) == (DocumentErrorCode.INVALID, "reason")

    stranger = await make_marketplace()
    outsider = await actor_of(await make_staff(stranger), stranger)
    result = await execute(APPROVE, {"id": str(encode_id("Document", kbis.id))}, actor=outsider)
    assert result.data["approveDocument"]["userErrors"] == [{"code": "NOT_FOUND"}]
    provider_actor = await actor_of(provider, marketplace)
    refused = await execute(
        APPROVE, {"id": str(encode_id("Document", kbis.id))}, actor=provider_actor
    )
    assert refused.codes == ["FORBIDDEN"]


async def test_a_provider_whose_required_document_was_rejected_is_not_matched_and_told_why():
    marketplace, staff, membership, _provider, kbis, _insurance = await _world()
    cleaning = await make_service(marketplace)
    await offer(membership, cleaning)
    await give_zone(membership, prefixes=("75",))

    async def report() -> MatchReport:
        return await explain_matching(staff, service_id=cleaning.id, postal_code="75011")

    assert [m.id for m in (await report()).matched] == [membership.id]
    await use_cases.reject_document(staff, document_id=kbis.id, reason="Unreadable.")
    rejected = await report()
    assert rejected.matched == []
    assert [(m.id, why) for m, why in rejected.unmatched] == [
        (membership.id, [MatchReason.DOCUMENT_REJECTED])
    ]
