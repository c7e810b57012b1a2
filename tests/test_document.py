"""The document-type catalogue, required documents, and the Documents tab of a provider's file."""

from __future__ import annotations

from datetime import timedelta

from models.account import StaffRole
from models.document import DocumentType, RequiredDocumentType
from presta import clock
from resolvers.document import ensure_document_types, missing_required_documents
from schema.base import encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.document import make_company_document, publish_terms, require_types
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import execute, ok

SET_REQUIRED = """
mutation($ids: [ID!]!) {
  setRequiredDocumentTypes(input: {documentTypeIds: $ids}) {
    userErrors { field code }
    requiredDocumentTypes { code }
  }
}
"""

TAB = """
query($m: ID!) {
  membershipDocuments(membershipId: $m) {
    termsVersion termsVersionAccepted
    companyDocuments {
      documentType { code } required state current { filename expiresOn } documents { id }
    }
    contracts { id } invoices { id } internalDocuments { id }
  }
}
"""


def gid(kind: str, pk: int) -> str:
    return str(encode_id(kind, pk))


async def test_the_catalogue_holds_the_usual_french_documents_and_seeding_twice_adds_nothing():
    await ensure_document_types()
    await ensure_document_types()
    staff = await make_staff(await make_marketplace())
    data = await ok("{ documentTypes { code expires validityDays } }", actor=await actor_of(staff))
    by_code = {t["code"]: t for t in data["documentTypes"]}
    assert set(by_code) == {"KBIS", "RC_PRO", "URSSAF", "RIB", "MANAGER_ID", "SAP"}
    assert by_code["URSSAF"] == {"code": "URSSAF", "expires": True, "validityDays": 180}
    assert by_code["RIB"]["expires"] is False
    assert await DocumentType.all().count() == 6


async def test_an_admin_sets_the_required_documents_and_providers_read_them():
    await ensure_document_types()
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    kbis, urssaf, rib = [await DocumentType.get(code=c) for c in ("KBIS", "URSSAF", "RIB")]

    first = await ok(
        SET_REQUIRED, {"ids": [gid("DocumentType", t.id) for t in (kbis, urssaf)]}, actor=admin
    )
    assert [t["code"] for t in first["setRequiredDocumentTypes"]["requiredDocumentTypes"]] == [
        "KBIS",
        "URSSAF",
    ]
    second = await ok(
        SET_REQUIRED, {"ids": [gid("DocumentType", t.id) for t in (urssaf, rib)]}, actor=admin
    )
    assert [t["code"] for t in second["setRequiredDocumentTypes"]["requiredDocumentTypes"]] == [
        "URSSAF",
        "RIB",
    ]

    membership = await make_membership(marketplace)
    provider = await actor_of(await make_provider_user(membership), marketplace)
    seen = await ok("{ requiredDocumentTypes { code } }", actor=provider)
    assert [t["code"] for t in seen["requiredDocumentTypes"]] == ["URSSAF", "RIB"]


async def test_an_agent_cannot_set_required_documents_and_an_unknown_type_changes_nothing():
    await ensure_document_types()
    marketplace = await make_marketplace()
    await require_types(marketplace, "KBIS")
    agent = await actor_of(await make_staff(marketplace, StaffRole.AGENT), marketplace)
    admin = await actor_of(await make_staff(marketplace), marketplace)
    kbis = await DocumentType.get(code="KBIS")

    refused = await execute(SET_REQUIRED, {"ids": []}, actor=agent)
    assert refused.codes == ["FORBIDDEN"]
    unknown = await ok(
        SET_REQUIRED,
        {"ids": [gid("DocumentType", 999999), gid("DocumentType", kbis.id)]},
        actor=admin,
    )
    assert unknown["setRequiredDocumentTypes"]["userErrors"] == [
        {"field": "documentTypeIds", "code": "NOT_FOUND"}
    ]
    wrong_kind = await ok(SET_REQUIRED, {"ids": [gid("Marketplace", marketplace.id)]}, actor=admin)
    assert wrong_kind["setRequiredDocumentTypes"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert await RequiredDocumentType.filter(marketplace=marketplace).count() == 1


async def test_required_documents_of_another_marketplace_are_out_of_reach():
    await ensure_document_types()
    a, b = await make_marketplace(), await make_marketplace()
    await require_types(a, "KBIS", "RIB")
    staff_b = await actor_of(await make_staff(b), b)
    seen = await ok("{ requiredDocumentTypes { code } }", actor=staff_b)
    assert seen["requiredDocumentTypes"] == []


async def test_a_required_document_counts_as_missing_once_it_expires():
    marketplace = await make_marketplace()
    await require_types(marketplace, "KBIS", "RIB")
    membership = await make_membership(marketplace)
    company = membership.company
    assert {t.code for t in await missing_required_documents(membership.id)} == {"KBIS", "RIB"}

    today = clock.now().date()
    await make_company_document(company, "KBIS", expires_on=today + timedelta(days=10))
    await make_company_document(company, "RIB")
    assert await missing_required_documents(membership.id) == []

    clock.advance(timedelta(days=10))
    assert [t.code for t in await missing_required_documents(membership.id)] == ["KBIS"]


async def test_the_documents_tab_shows_each_company_document_with_its_state():
    marketplace = await make_marketplace()
    await require_types(marketplace, "KBIS", "URSSAF", "RC_PRO", "RIB")
    membership = await make_membership(marketplace)
    company = membership.company
    today = clock.now().date()
    await make_company_document(company, "KBIS", expires_on=today + timedelta(days=60))
    await make_company_document(company, "URSSAF", expires_on=today + timedelta(days=20))
    await make_company_document(company, "RC_PRO", expires_on=today)
    await make_company_document(company, "SAP")  # filed, though not required
    await publish_terms(marketplace)
    staff = await actor_of(await make_staff(marketplace, StaffRole.AGENT), marketplace)

    data = await ok(TAB, {"m": gid("Membership", membership.id)}, actor=staff)
    tab = data["membershipDocuments"]
    states = {
        d["documentType"]["code"]: (d["required"], d["state"]) for d in tab["companyDocuments"]
    }
    assert states == {
        "KBIS": (True, "VALID"),
        "URSSAF": (True, "EXPIRING_SOON"),
        "RC_PRO": (True, "EXPIRED"),
        "RIB": (True, "MISSING"),
        "SAP": (False, "VALID"),
    }
    assert tab["termsVersion"] == 1
    assert tab["termsVersionAccepted"] is None


async def test_a_newer_document_of_the_same_type_brings_it_back_to_valid():
    marketplace = await make_marketplace()
    await require_types(marketplace, "URSSAF")
    membership = await make_membership(marketplace)
    today = clock.now().date()
    await make_company_document(membership.company, "URSSAF", expires_on=today + timedelta(days=5))
    await make_company_document(
        membership.company, "URSSAF", expires_on=today + timedelta(days=180)
    )
    provider = await actor_of(await make_provider_user(membership), marketplace)

    tab = (await ok(TAB, {"m": gid("Membership", membership.id)}, actor=provider))[
        "membershipDocuments"
    ]
    [urssaf] = tab["companyDocuments"]
    assert urssaf["state"] == "VALID"
    assert urssaf["current"]["expiresOn"] == (today + timedelta(days=180)).isoformat()
    assert len(urssaf["documents"]) == 2


async def test_another_provider_or_marketplace_gets_no_documents_tab():
    marketplace = await make_marketplace()
    membership = await make_membership(marketplace)
    neighbour = await make_membership(marketplace)
    neighbour_user = await actor_of(await make_provider_user(neighbour), marketplace)
    other_marketplace = await make_marketplace()
    foreign_staff = await actor_of(await make_staff(other_marketplace), other_marketplace)
    for actor in (neighbour_user, foreign_staff):
        data = await ok(TAB, {"m": gid("Membership", membership.id)}, actor=actor)
        assert data["membershipDocuments"] is None
