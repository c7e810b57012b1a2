from __future__ import annotations

from typing import Any

from models.catalog import ProviderServiceStatus
from schema.base import encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.catalog import make_service, offer
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import execute, ok

CREATE = """
mutation($input: CreateServiceInput!) {
  createService(input: $input) {
    userErrors { field code message }
    service { id name category description archivedAt }
  }
}"""
UPDATE = """
mutation($input: UpdateServiceInput!) {
  updateService(input: $input) {
    userErrors { field code }
    service { name category description }
  }
}"""
ARCHIVE = """
mutation($id: ID!) {
  archiveService(input: {serviceId: $id}) { userErrors { code } service { archivedAt } }
}"""
SERVICES = """
query($archived: Boolean!) {
  services(includeArchived: $archived) { nodes { name } }
}"""
APPLY = """
mutation($id: ID!) {
  applyForService(input: {serviceId: $id}) {
    userErrors { field code message }
    providerService { id status reason }
  }
}"""
ACCEPT = """
mutation($id: ID!) {
  acceptProviderService(input: {providerServiceId: $id}) {
    userErrors { field code } providerService { status }
  }
}"""
REJECT = """
mutation($id: ID!, $reason: String!) {
  rejectProviderService(input: {providerServiceId: $id, reason: $reason}) {
    userErrors { field code } providerService { status reason }
  }
}"""
DEACTIVATE = """
mutation($id: ID!) {
  deactivateProviderService(input: {providerServiceId: $id, reason: "complaints"}) {
    userErrors { field code } providerService { status reason }
  }
}"""
TAB = """
query($id: ID!) {
  membershipServices(membershipId: $id) { service { name } status providerService { id } }
}"""


def gid(kind: str, pk: int) -> str:
    return str(encode_id(kind, pk))


async def _setup() -> tuple[Any, Any, Any, Any]:
    mp = await make_marketplace()
    staff = await actor_of(await make_staff(mp), mp)
    membership = await make_membership(mp)
    provider = await actor_of(await make_provider_user(membership), mp)
    return mp, staff, membership, provider


async def test_staff_build_the_catalogue_and_archived_services_drop_out_of_the_list():
    _, staff, _, provider = await _setup()
    created = (
        await ok(
            CREATE,
            {"input": {"name": " Ménage ", "category": "Maison", "description": "Weekly"}},
            actor=staff,
        )
    )["createService"]
    assert created["userErrors"] == []
    assert created["service"]["name"] == "Ménage"
    service_id = created["service"]["id"]
    await ok(CREATE, {"input": {"name": "Repassage"}}, actor=staff)

    updated = await ok(
        UPDATE, {"input": {"serviceId": service_id, "description": "Every week"}}, actor=staff
    )
    assert updated["updateService"]["service"] == {
        "name": "Ménage",
        "category": "Maison",
        "description": "Every week",
    }
    archived = await ok(ARCHIVE, {"id": service_id}, actor=staff)
    assert archived["archiveService"]["service"]["archivedAt"] is not None

    live = await ok(SERVICES, {"archived": False}, actor=provider)
    assert [s["name"] for s in live["services"]["nodes"]] == ["Repassage"]
    every = await ok(SERVICES, {"archived": True}, actor=staff)
    assert [s["name"] for s in every["services"]["nodes"]] == ["Ménage", "Repassage"]


async def test_a_service_needs_a_name_and_only_staff_may_create_one():
    _, staff, _, provider = await _setup()
    blank = await ok(CREATE, {"input": {"name": "  ", "category": "x" * 101}}, actor=staff)
    assert [(e["field"], e["code"]) for e in blank["createService"]["userErrors"]] == [
        ("name", "INVALID"),
        ("category", "INVALID"),
    ]
    denied = await execute(CREATE, {"input": {"name": "Jardinage"}}, actor=provider)
    assert denied.codes == ["FORBIDDEN"]


async def test_staff_of_another_marketplace_cannot_touch_a_service():
    mp, _, _, _ = await _setup()
    service = await make_service(mp)
    other = await make_marketplace()
    outsider = await actor_of(await make_staff(other), other)

    result = await ok(ARCHIVE, {"id": gid("Service", service.id)}, actor=outsider)
    assert result["archiveService"]["userErrors"] == [{"code": "NOT_FOUND"}]


async def test_a_provider_applies_and_staff_follow_only_the_legal_transitions():
    mp, staff, _, provider = await _setup()
    service = await make_service(mp)
    applied = (await ok(APPLY, {"id": gid("Service", service.id)}, actor=provider))[
        "applyForService"
    ]
    assert applied["providerService"]["status"] == "PENDING"
    ps = applied["providerService"]["id"]
    again = await ok(APPLY, {"id": gid("Service", service.id)}, actor=provider)
    assert again["applyForService"]["userErrors"][0]["code"] == "ALREADY_APPLIED"

    # A pending application cannot be deactivated; a rejection needs a reason.
    early = await ok(DEACTIVATE, {"id": ps}, actor=staff)
    assert early["deactivateProviderService"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    no_reason = await ok(REJECT, {"id": ps, "reason": " "}, actor=staff)
    assert no_reason["rejectProviderService"]["userErrors"] == [
        {"field": "reason", "code": "INVALID"}
    ]

    accepted = await ok(ACCEPT, {"id": ps}, actor=staff)
    assert accepted["acceptProviderService"]["providerService"]["status"] == "ACCEPTED"
    late = await ok(REJECT, {"id": ps, "reason": "too late"}, actor=staff)
    assert late["rejectProviderService"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    off = await ok(DEACTIVATE, {"id": ps}, actor=staff)
    assert off["deactivateProviderService"]["providerService"] == {
        "status": "DEACTIVATED",
        "reason": "complaints",
    }
    back = await ok(ACCEPT, {"id": ps}, actor=staff)
    assert back["acceptProviderService"]["providerService"]["status"] == "ACCEPTED"


async def test_a_rejected_provider_may_apply_again_and_the_reason_is_cleared():
    mp, staff, membership, provider = await _setup()
    service = await make_service(mp)
    row = await offer(membership, service, ProviderServiceStatus.PENDING)
    rejected = await ok(
        REJECT, {"id": gid("ProviderService", row.id), "reason": "No SIRET"}, actor=staff
    )
    assert rejected["rejectProviderService"]["providerService"]["reason"] == "No SIRET"

    again = await ok(APPLY, {"id": gid("Service", service.id)}, actor=provider)
    assert again["applyForService"]["providerService"] == {
        "id": gid("ProviderService", row.id),
        "status": "PENDING",
        "reason": "",
    }


async def test_nobody_applies_for_an_archived_service_and_providers_cannot_decide():
    mp, staff, membership, provider = await _setup()
    service = await make_service(mp)
    row = await offer(membership, service, ProviderServiceStatus.PENDING)
    denied = await execute(ACCEPT, {"id": gid("ProviderService", row.id)}, actor=provider)
    assert denied.codes == ["FORBIDDEN"]

    await ok(ARCHIVE, {"id": gid("Service", service.id)}, actor=staff)
    archived = await make_service(mp, name="Old")
    await ok(ARCHIVE, {"id": gid("Service", archived.id)}, actor=staff)
    result = await ok(APPLY, {"id": gid("Service", archived.id)}, actor=provider)
    assert result["applyForService"]["userErrors"][0]["code"] == "SERVICE_ARCHIVED"


async def test_the_services_tab_lists_every_service_with_this_providers_status():
    mp, staff, membership, provider = await _setup()
    cleaning = await make_service(mp, name="Cleaning")
    await make_service(mp, name="Gardening")
    ironing = await make_service(mp, name="Ironing")
    await offer(membership, cleaning, ProviderServiceStatus.ACCEPTED)
    await offer(membership, ironing, ProviderServiceStatus.PENDING)
    other = await make_membership(mp)
    await offer(other, ironing, ProviderServiceStatus.REJECTED)
    mid = gid("Membership", membership.id)

    tab = (await ok(TAB, {"id": mid}, actor=staff))["membershipServices"]
    assert [(r["service"]["name"], r["status"]) for r in tab] == [
        ("Cleaning", "ACCEPTED"),
        ("Gardening", None),
        ("Ironing", "PENDING"),
    ]
    assert tab[1]["providerService"] is None
    # The provider sees its own tab, also as a field of its membership; not another's.
    mine = await ok(
        "query($id: ID!) { node(id: $id) { ... on Membership { services { status } } } }",
        {"id": mid},
        actor=provider,
    )
    assert [r["status"] for r in mine["node"]["services"]] == ["ACCEPTED", None, "PENDING"]
    theirs = await ok(TAB, {"id": gid("Membership", other.id)}, actor=provider)
    assert theirs["membershipServices"] is None
