"""A provider company's own account: its details (SIRET checked) and colleagues it invites."""

from __future__ import annotations

import re

import pytest

from models.events import Event
from models.membership import ColleagueInvitation
from presta import clock, jobs
from resolvers import feed
from resolvers.company import valid_siret
from tests.factories.account import actor_of, make_marketplace, make_user
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import execute, ok

UPDATE = """mutation($input: UpdateProviderCompanyInput!) { updateProviderCompany(input: $input) {
  userErrors { field code } company { name siret email phone listedInDirectory } } }"""
INVITE = """mutation($input: InviteColleagueInput!) { inviteColleague(input: $input) {
  userErrors { field code } invitation { email } } }"""
JOIN = """mutation($input: AcceptColleagueInvitationInput!) {
  acceptColleagueInvitation(input: $input) { userErrors { field code } company { name } } }"""
MINE = "{ myCompany { company { name } colleagues { email } pendingInvitations { email } } }"


@pytest.mark.parametrize(
    ("siret", "valid"),
    [
        ("73282932000074", True),
        ("73282932000075", False),
        ("7328293200007", False),
        ("7328293200007a", False),
        ("35600000049837", True),  # La Poste: digits sum to a multiple of 5
        ("35600000049838", False),
    ],
)
def test_a_siret_has_14_digits_and_a_valid_check_digit(siret, valid):
    assert valid_siret(siret) is valid


async def test_a_provider_edits_its_company_and_its_marketplaces_staff_see_it_live():
    marketplace, other = await make_marketplace(), await make_marketplace()
    membership = await make_membership(marketplace)
    await make_membership(other, company=membership.company)
    user = await make_provider_user(membership)

    data = await ok(
        UPDATE,
        {
            "input": {
                "name": "Net & Net",
                "siret": "732 829 320 00074",
                "email": "Contact@Net.example.com",
                "phone": "+33 1 23 45 67 89",
                "listedInDirectory": True,
            }
        },
        actor=await actor_of(user, marketplace),
    )

    assert data["updateProviderCompany"] == {
        "userErrors": [],
        "company": {
            "name": "Net & Net",
            "siret": "73282932000074",
            "email": "contact@net.example.com",
            "phone": "+33 1 23 45 67 89",
            "listedInDirectory": True,
        },
    }
    told = await Event.filter(topic="membership.updated").values_list("marketplace_id", flat=True)
    assert sorted(told) == sorted([marketplace.id, other.id])


async def test_every_invalid_field_of_the_company_is_reported_and_nothing_changes():
    marketplace = await make_marketplace()
    membership = await make_membership(marketplace)
    user = await make_provider_user(membership)

    data = await ok(
        UPDATE,
        {"input": {"name": " ", "siret": "12345678900012", "email": "nope"}},
        actor=await actor_of(user, marketplace),
    )

    assert data["updateProviderCompany"]["userErrors"] == [
        {"field": "name", "code": "INVALID"},
        {"field": "siret", "code": "INVALID_SIRET"},
        {"field": "email", "code": "INVALID_EMAIL"},
    ]
    await membership.company.refresh_from_db()
    assert membership.company.name != " "


async def test_only_a_provider_user_edits_a_company():
    user = await make_user()
    result = await execute(UPDATE, {"input": {"name": "Mine"}}, actor=await actor_of(user))
    assert result.codes == ["FORBIDDEN"]


def _token(body: str) -> str:
    found = re.search(r"invitation=([\w-]+)", body)
    assert found is not None, body
    return found.group(1)


async def test_an_invited_colleague_joins_and_acts_for_the_company_in_its_marketplaces(mailbox):
    marketplace = await make_marketplace()
    membership = await make_membership(marketplace)
    owner = await make_provider_user(membership, email="owner@net.example.com")
    owner_actor = await actor_of(owner, marketplace)
    colleague = await make_user(email="colleague@net.example.com")

    invited = await ok(INVITE, {"input": {"email": colleague.email}}, actor=owner_actor)
    assert invited["inviteColleague"] == {
        "userErrors": [],
        "invitation": {"email": colleague.email},
    }
    await jobs.drain()
    [mail] = mailbox.to(colleague.email)
    token = _token(mailbox.body(mail))
    pending = await ok(MINE, actor=owner_actor)
    assert pending["myCompany"]["pendingInvitations"] == [{"email": colleague.email}]

    joined = await ok(JOIN, {"input": {"token": token}}, actor=await actor_of(colleague))

    assert joined["acceptColleagueInvitation"]["userErrors"] == []
    now_provider = await actor_of(colleague, marketplace)
    assert now_provider.membership_id == membership.id
    mine = await ok(MINE, actor=now_provider)
    assert mine["myCompany"]["colleagues"] == [
        {"email": owner.email},
        {"email": colleague.email},
    ]
    assert mine["myCompany"]["pendingInvitations"] == []
    again = await ok(JOIN, {"input": {"token": token}}, actor=now_provider)
    assert again["acceptColleagueInvitation"]["userErrors"] == [
        {"field": "token", "code": "INVITATION_USED"}
    ]


async def test_a_colleague_link_works_only_for_the_invited_address_and_until_it_expires(mailbox):
    marketplace = await make_marketplace()
    membership = await make_membership(marketplace)
    owner = await make_provider_user(membership)
    await ok(
        INVITE,
        {"input": {"email": "invited@net.example.com"}},
        actor=await actor_of(owner, marketplace),
    )
    await jobs.drain()
    token = _token(mailbox.body(mailbox.to("invited@net.example.com")[0]))
    stranger = await make_user(email="stranger@net.example.com")
    other_company = await make_membership(await make_marketplace())
    busy = await make_provider_user(other_company, email="invited.busy@net.example.com")

    wrong = await ok(JOIN, {"input": {"token": token}}, actor=await actor_of(stranger))
    assert wrong["acceptColleagueInvitation"]["userErrors"] == [
        {"field": "token", "code": "WRONG_ACCOUNT"}
    ]
    invited = await make_user(email="invited@net.example.com")
    await ColleagueInvitation.all().update(expires_at=clock.now())
    expired = await ok(JOIN, {"input": {"token": token}}, actor=await actor_of(invited))
    assert expired["acceptColleagueInvitation"]["userErrors"] == [
        {"field": "token", "code": "INVITATION_EXPIRED"}
    ]
    assert (await actor_of(invited, marketplace)).membership_id is None
    assert busy.provider_company_id == other_company.company_id


async def test_a_user_of_another_company_cannot_join_a_second_one(mailbox):
    marketplace = await make_marketplace()
    owner = await make_provider_user(await make_membership(marketplace))
    elsewhere = await make_membership(await make_marketplace())
    busy = await make_provider_user(elsewhere, email="busy@net.example.com")
    await ok(INVITE, {"input": {"email": busy.email}}, actor=await actor_of(owner, marketplace))
    await jobs.drain()
    token = _token(mailbox.body(mailbox.to(busy.email)[0]))

    data = await ok(JOIN, {"input": {"token": token}}, actor=await actor_of(busy))

    assert data["acceptColleagueInvitation"]["userErrors"] == [
        {"field": "token", "code": "OTHER_COMPANY"}
    ]


REMOVE = """mutation($input: RemoveColleagueInput!) { removeColleague(input: $input) {
  userErrors { field code } colleague { email } } }"""


async def test_a_colleague_taken_off_the_account_stops_acting_for_the_company_at_once():
    marketplace = await make_marketplace()
    membership = await make_membership(marketplace)
    owner = await make_provider_user(membership, email="owner@off.example.com")
    leaver = await make_provider_user(membership, email="leaver@off.example.com")
    owner_actor = await actor_of(owner, marketplace)
    leaver_before = await actor_of(leaver, marketplace)
    stranger = await actor_of(
        await make_provider_user(await make_membership(marketplace)), marketplace
    )
    assert await feed.still_present(leaver_before)

    foreign = await ok(REMOVE, {"input": {"email": leaver.email}}, actor=stranger)
    assert foreign["removeColleague"]["userErrors"] == [{"field": "email", "code": "NOT_FOUND"}]

    removed = await ok(REMOVE, {"input": {"email": " Leaver@off.example.com "}}, actor=owner_actor)

    assert removed["removeColleague"] == {
        "userErrors": [],
        "colleague": {"email": leaver.email},
    }
    assert (await actor_of(leaver, marketplace)).membership_id is None
    assert not await feed.still_present(leaver_before)  # its provider feeds stop
    mine = await ok(MINE, actor=owner_actor)
    assert mine["myCompany"]["colleagues"] == [{"email": owner.email}]
    assert await Event.filter(topic="provider_company.updated", object_id=leaver.id).exists()

    last = await ok(REMOVE, {"input": {"email": owner.email}}, actor=owner_actor)
    assert last["removeColleague"]["userErrors"] == [{"field": "email", "code": "LAST_USER"}]
    assert (await actor_of(owner, marketplace)).membership_id == membership.id
