"""Public applications: with the marketplace's public link, providers apply uninvited and
follow the same INVITED -> APPLIED -> ACCEPTED flow as invited ones."""

from __future__ import annotations

from models.marketplace import Marketplace
from models.membership import Membership, MembershipAudit, MembershipStatus
from resolvers.actor import Actor
from resolvers.application import accept_application, submit_application
from resolvers.marketplace import update_marketplace_settings
from resolvers.terms import accept_terms_of_use, publish_terms_of_use
from tests.factories.account import actor_of, make_marketplace, make_staff, make_user
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import ok

PREVIEW = """query($token: String!) { publicApplication(token: $token) {
  marketplaceName marketplaceSlug termsOfUse { number } } }"""
APPLY = """mutation($input: ApplyToMarketplaceInput!) { applyToMarketplace(input: $input) {
  userErrors { field code } membership { id status company { name } } } }"""


async def _open_marketplace() -> tuple[Marketplace, Actor, str]:
    marketplace = await make_marketplace(name="Jardins du Sud")
    admin = await actor_of(await make_staff(marketplace), marketplace)
    await publish_terms_of_use(admin, text="Be on time.")
    opened = await update_marketplace_settings(admin, public_applications_enabled=True)
    assert opened.public_application_token is not None
    return marketplace, admin, opened.public_application_token


async def test_a_provider_applies_through_the_public_link_and_is_accepted_like_an_invited_one():
    marketplace, admin, token = await _open_marketplace()
    preview = await ok(PREVIEW, {"token": token})
    assert preview["publicApplication"] == {
        "marketplaceName": "Jardins du Sud",
        "marketplaceSlug": marketplace.slug,
        "termsOfUse": {"number": 1},
    }
    user = await make_user()

    data = await ok(
        APPLY,
        {"input": {"token": token, "company": {"name": "Taille & Tonte"}}},
        actor=await actor_of(user),
    )

    assert data["applyToMarketplace"]["userErrors"] == []
    assert data["applyToMarketplace"]["membership"]["status"] == "INVITED"
    assert data["applyToMarketplace"]["membership"]["company"] == {"name": "Taille & Tonte"}
    membership = await Membership.get(marketplace_id=marketplace.id)
    [audit] = await MembershipAudit.filter(membership_id=membership.id)
    assert (audit.to_status, audit.reason) == (
        MembershipStatus.INVITED,
        "Applied through the public link.",
    )
    provider = await actor_of(user, marketplace)
    await accept_terms_of_use(provider)
    assert (await submit_application(provider, membership_id=membership.id)).status is (
        MembershipStatus.APPLIED
    )
    accepted = await accept_application(admin, membership_id=membership.id)
    assert accepted.status is MembershipStatus.ACCEPTED


async def test_a_link_stops_working_when_public_applications_are_off_or_it_is_replaced():
    marketplace, admin, token = await _open_marketplace()
    renewed = await update_marketplace_settings(admin, new_public_application_link=True)
    user = await make_user()

    old = await ok(
        APPLY, {"input": {"token": token, "company": {"name": "X"}}}, actor=await actor_of(user)
    )
    assert old["applyToMarketplace"]["userErrors"] == [{"field": "token", "code": "NOT_FOUND"}]
    assert (await ok(PREVIEW, {"token": token}))["publicApplication"] is None

    await update_marketplace_settings(admin, public_applications_enabled=False)
    new_token = renewed.public_application_token
    assert new_token is not None
    assert new_token != token
    off = await ok(
        APPLY, {"input": {"token": new_token, "company": {"name": "X"}}}, actor=await actor_of(user)
    )
    assert off["applyToMarketplace"]["userErrors"] == [{"field": "token", "code": "NOT_FOUND"}]
    assert (await ok(PREVIEW, {"token": new_token}))["publicApplication"] is None
    assert not await Membership.exists(marketplace_id=marketplace.id)


async def test_a_company_already_in_the_marketplace_cannot_apply_again_but_a_refused_one_can():
    marketplace, _, token = await _open_marketplace()
    member = await make_provider_user(await make_membership(marketplace))
    refused_membership = await make_membership(marketplace, MembershipStatus.REFUSED)
    refused = await make_provider_user(refused_membership)

    again = await ok(APPLY, {"input": {"token": token}}, actor=await actor_of(member))
    retry = await ok(APPLY, {"input": {"token": token}}, actor=await actor_of(refused))

    assert again["applyToMarketplace"]["userErrors"] == [
        {"field": "token", "code": "ALREADY_MEMBER"}
    ]
    assert retry["applyToMarketplace"]["userErrors"] == []
    assert retry["applyToMarketplace"]["membership"]["status"] == "INVITED"


async def test_a_user_without_a_company_must_describe_one():
    _, _, token = await _open_marketplace()

    data = await ok(APPLY, {"input": {"token": token}}, actor=await actor_of(await make_user()))

    assert data["applyToMarketplace"]["userErrors"] == [
        {"field": "company", "code": "COMPANY_REQUIRED"}
    ]
