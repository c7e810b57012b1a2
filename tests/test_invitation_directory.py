"""The directory of referenced providers, and inviting them without a new sign-up."""

from __future__ import annotations

import pytest

from models.invitation import Invitation, InvitationStatus
from models.membership import MembershipStatus
from presta import jobs
from resolvers import application
from resolvers.directory import invite_referenced_providers
from resolvers.errors import UserError
from resolvers.invitation import token_of
from schema.base import encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff, make_user
from tests.factories.catalog import give_zone, make_service, offer
from tests.factories.membership import make_company, make_membership, make_provider_user
from tests.support.graphql import ok

DIRECTORY = """query($name: String, $serviceId: ID, $postalCode: String) {
  providerDirectory(name: $name, serviceId: $serviceId, postalCode: $postalCode) {
    nodes { id name } } }"""
INVITE = """mutation($ids: [ID!]!) { inviteReferencedProviders(input: {companyIds: $ids}) {
  userErrors { code companyId } invitations { id email status companyId } } }"""


def _gid(company) -> str:
    return str(encode_id("ProviderCompany", company.id))


async def _listed(elsewhere, name: str, **kw):
    membership = await make_membership(
        elsewhere, company=await make_company(name=name, listed_in_directory=True, **kw)
    )
    return membership


async def test_staff_search_listed_companies_by_name_service_and_postal_code():
    marketplace, elsewhere = await make_marketplace(), await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    plumber = await _listed(elsewhere, "Plomberie Martin")
    gardener = await _listed(elsewhere, "Jardins Martin")
    await make_membership(elsewhere, company=await make_company(name="Martin Secret"))
    await offer(plumber, await make_service(elsewhere, name="Plumbing"))
    await offer(gardener, await make_service(elsewhere, name="Gardening"))
    await give_zone(plumber, prefixes=("75",))
    await give_zone(gardener, postal_codes=("69001",))
    plumbing_here = await make_service(marketplace, name="plumbing")

    async def names(**variables: object) -> list[str]:
        data = await ok(DIRECTORY, variables, actor=staff)
        return [n["name"] for n in data["providerDirectory"]["nodes"]]

    assert await names(name="martin") == ["Plomberie Martin", "Jardins Martin"]
    assert await names(serviceId=str(encode_id("Service", plumbing_here.id))) == [
        "Plomberie Martin"
    ]
    assert await names(postalCode="75011") == ["Plomberie Martin"]
    assert await names(postalCode="69001") == ["Jardins Martin"]
    assert await names(postalCode="13001") == []


async def test_the_directory_finds_circle_zones_around_the_postal_codes_centroid():
    marketplace, elsewhere = await make_marketplace(), await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    near = await _listed(elsewhere, "Ménage Bastille")
    far = await _listed(elsewhere, "Ménage Lyon")
    # 75011's centroid is (48.8574, 2.3795); Lyon's 69003 is (45.7612, 4.8518).
    await give_zone(near, circles=((48.8566, 2.3522, 2.5),))
    await give_zone(far, circles=((45.7612, 4.8518, 20.0),))

    async def names(code: str) -> list[str]:
        data = await ok(DIRECTORY, {"postalCode": code}, actor=staff)
        return [n["name"] for n in data["providerDirectory"]["nodes"]]

    assert await names("75011") == ["Ménage Bastille"]
    assert await names("69003") == ["Ménage Lyon"]
    assert await names("13001") == []


async def test_referenced_providers_are_invited_and_accept_from_their_account(mailbox):
    marketplace, elsewhere = await make_marketplace(name="Ménage Plus"), await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    listed = await _listed(elsewhere, "Plomberie Martin", email="contact@martin.example")
    hidden = await make_membership(elsewhere)
    member = await _listed(marketplace, "Already Here")
    boss = await make_provider_user(listed)

    data = await ok(
        INVITE,
        {"ids": [_gid(listed.company), _gid(hidden.company), _gid(member.company)]},
        actor=staff,
    )

    payload = data["inviteReferencedProviders"]
    [invitation] = payload["invitations"]
    assert invitation["companyId"] == _gid(listed.company)
    assert invitation["email"] == "contact@martin.example"
    assert [(e["code"], e["companyId"]) for e in payload["userErrors"]] == [
        ("NOT_IN_DIRECTORY", _gid(hidden.company)),
        ("ALREADY_MEMBER", _gid(member.company)),
    ]
    await jobs.drain()
    assert len(mailbox.to("contact@martin.example")) == 1

    provider = await actor_of(boss)
    mine = await ok("{ myInvitations { id marketplaceName status } }", actor=provider)
    assert mine["myInvitations"] == [
        {"id": invitation["id"], "marketplaceName": "Ménage Plus", "status": "PENDING"}
    ]
    accepted = await ok(
        """mutation($id: ID!) { acceptInvitation(input: {invitationId: $id}) {
          userErrors { code } membership { status company { name } } } }""",
        {"id": invitation["id"]},
        actor=provider,
    )
    assert accepted["acceptInvitation"]["membership"] == {
        "status": "INVITED",
        "company": {"name": "Plomberie Martin"},
    }
    assert (await Invitation.get()).status is InvitationStatus.ACCEPTED


async def test_a_directory_invitation_is_only_for_the_invited_company():
    marketplace, elsewhere = await make_marketplace(), await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    listed = await _listed(elsewhere, "Plomberie Martin")
    [invitation], _ = await invite_referenced_providers(staff, company_ids=[listed.company_id])
    other_provider = await actor_of(await make_provider_user(await make_membership(elsewhere)))
    stranger = await actor_of(await make_user())

    with pytest.raises(UserError) as by_id:
        await application.accept_invitation(other_provider, invitation_id=invitation.id)
    assert by_id.value.code == "NOT_FOUND"
    with pytest.raises(UserError) as by_link:
        await application.accept_invitation(
            stranger,
            token=token_of(invitation),
            company=application.CompanyData(name="Impostor"),
        )
    assert by_link.value.code == "INVALID"
    await invitation.refresh_from_db()
    assert invitation.status is InvitationStatus.PENDING
    assert listed.status is MembershipStatus.ACCEPTED
