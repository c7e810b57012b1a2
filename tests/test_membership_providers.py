"""The providers screen: the list with its filters and counts, a provider's own files, and
tenant isolation of memberships by every path."""

from __future__ import annotations

from datetime import timedelta

from models.membership import MembershipStatus
from presta import clock
from schema.base import encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.catalog import make_service, offer
from tests.factories.document import make_company_document
from tests.factories.membership import make_company, make_membership, make_provider_user
from tests.support.graphql import execute, ok

S = MembershipStatus
PROVIDERS = """query($status: MembershipStatus, $serviceId: ID, $text: String,
                    $documentExpiry: DocumentExpiry, $first: Int, $after: String) {
  providers(status: $status, serviceId: $serviceId, text: $text,
            documentExpiry: $documentExpiry, first: $first, after: $after) {
    nodes { id status company { name } }
    pageInfo { hasNextPage endCursor } } }"""


async def _names(actor, **variables) -> list[str]:
    data = await ok(PROVIDERS, variables, actor=actor)
    return [n["company"]["name"] for n in data["providers"]["nodes"]]


async def test_staff_filter_providers_by_status_service_text_and_document_expiry():
    marketplace = await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    today = clock.now().date()
    alpha = await make_membership(marketplace, company=await make_company(name="Alpha Nettoyage"))
    beta = await make_membership(
        marketplace,
        S.APPLIED,
        company=await make_company(name="Beta Jardin", siret="99900011122233"),
    )
    gamma = await make_membership(
        marketplace, S.SUSPENDED, company=await make_company(name="Gamma")
    )
    await make_membership(marketplace, S.DELETED, company=await make_company(name="Gone"))
    cleaning = await make_service(marketplace, name="Cleaning")
    await offer(alpha, cleaning)
    await make_company_document(alpha.company, "KBIS", expires_on=today - timedelta(days=1))
    await make_company_document(beta.company, "KBIS", expires_on=today + timedelta(days=10))
    # Gamma's insurance expired but was renewed: its latest one counts.
    await make_company_document(gamma.company, "RC_PRO", expires_on=today - timedelta(days=3))
    await make_company_document(gamma.company, "RC_PRO", expires_on=today + timedelta(days=200))

    assert await _names(staff) == ["Gamma", "Beta Jardin", "Alpha Nettoyage"]
    assert await _names(staff, status="APPLIED") == ["Beta Jardin"]
    assert await _names(staff, status="DELETED") == ["Gone"]
    assert await _names(staff, serviceId=str(encode_id("Service", cleaning.id))) == [
        "Alpha Nettoyage"
    ]
    assert await _names(staff, text="jardin") == ["Beta Jardin"]
    assert await _names(staff, text="999000") == ["Beta Jardin"]
    assert await _names(staff, documentExpiry="EXPIRED") == ["Alpha Nettoyage"]
    assert await _names(staff, documentExpiry="EXPIRING_SOON") == ["Beta Jardin"]


async def test_the_list_pages_with_cursors_and_counts_every_status():
    marketplace = await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    for status in (S.ACCEPTED, S.ACCEPTED, S.APPLIED, S.INVITED, S.DELETED):
        await make_membership(marketplace, status)
    await make_membership(await make_marketplace())

    first = (await ok(PROVIDERS, {"first": 3}, actor=staff))["providers"]
    rest = (
        await ok(PROVIDERS, {"first": 3, "after": first["pageInfo"]["endCursor"]}, actor=staff)
    )["providers"]
    counts = await ok(
        "{ providerCounts { invited applied accepted refused suspended deleted total } }",
        actor=staff,
    )

    assert first["pageInfo"]["hasNextPage"] is True
    assert len(first["nodes"]) == 3
    assert len(rest["nodes"]) == 1
    assert rest["pageInfo"]["hasNextPage"] is False
    assert counts["providerCounts"] == {
        "invited": 1,
        "applied": 1,
        "accepted": 2,
        "refused": 0,
        "suspended": 0,
        "deleted": 1,
        "total": 4,
    }


async def test_a_provider_sees_its_own_file_in_each_marketplace_and_nothing_of_another():
    a, b = await make_marketplace(name="A"), await make_marketplace(name="B")
    company = await make_company()
    in_a = await make_membership(a, company=company)
    await make_membership(b, S.INVITED, company=company)
    competitor = await make_membership(a)
    user = await make_provider_user(in_a)

    everywhere = await ok(
        "{ myMemberships { marketplaceName status } }", actor=await actor_of(user)
    )
    acting_in_a = await actor_of(user, a)
    here = await ok("{ myMemberships { id } }", actor=acting_in_a)
    spy = await ok(
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": str(encode_id("Membership", competitor.id))},
        actor=acting_in_a,
    )
    listing = await execute(PROVIDERS, actor=acting_in_a)

    assert everywhere["myMemberships"] == [
        {"marketplaceName": "A", "status": "ACCEPTED"},
        {"marketplaceName": "B", "status": "INVITED"},
    ]
    assert here["myMemberships"] == [{"id": str(encode_id("Membership", in_a.id))}]
    assert spy["node"] is None
    assert listing.codes == ["FORBIDDEN"]


async def test_staff_of_marketplace_b_read_nothing_of_a_by_any_path():
    a, b = await make_marketplace(), await make_marketplace()
    membership = await make_membership(a, company=await make_company(name="Secret A"))
    intruder = await actor_of(await make_staff(b), b)
    gid = str(encode_id("Membership", membership.id))

    node = await ok("query($id: ID!) { node(id: $id) { id } }", {"id": gid}, actor=intruder)
    listing = await _names(intruder)
    counts = await ok("{ providerCounts { total } }", actor=intruder)
    commission = await ok(
        """mutation($id: ID!) { setProviderCommission(input: {membershipId: $id, rate: "5",
          effectiveFrom: "2026-01-01"}) { userErrors { code } } }""",
        {"id": gid},
        actor=intruder,
    )

    assert node["node"] is None
    assert listing == []
    assert counts["providerCounts"]["total"] == 0
    assert commission["setProviderCommission"]["userErrors"] == [{"code": "NOT_FOUND"}]
