"""Staff management: ADMINs change roles and remove members; a marketplace keeps an ADMIN."""

from __future__ import annotations

import asyncio

import pytest

from models.account import ApiScope, StaffMember, StaffRole
from presta.security import make_access_token
from resolvers.account import create_api_key
from resolvers.authentication import authenticate
from resolvers.errors import AuthError
from resolvers.lifecycle import suspend_provider
from tests.factories.account import actor_of, make_marketplace, make_staff, make_user
from tests.factories.membership import make_membership
from tests.support.graphql import execute, ok
from tests.support.live import open_feed

CHANGE = """mutation($input: ChangeStaffRoleInput!) { changeStaffRole(input: $input) {
  userErrors { field code } staffMember { email role } } }"""
REMOVE = """mutation($input: RemoveStaffMemberInput!) { removeStaffMember(input: $input) {
  userErrors { field code } staffMember { email role } } }"""
LIST = "{ staffMembers { email role } }"


async def test_an_admin_promotes_an_agent_and_the_list_shows_admins_first():
    marketplace = await make_marketplace()
    admin_user = await make_staff(marketplace)
    agent_user = await make_staff(marketplace, StaffRole.AGENT)
    admin = await actor_of(admin_user, marketplace)

    data = await ok(CHANGE, {"input": {"email": agent_user.email, "role": "ADMIN"}}, actor=admin)

    assert data["changeStaffRole"] == {
        "userErrors": [],
        "staffMember": {"email": agent_user.email, "role": "ADMIN"},
    }
    listed = await ok(LIST, actor=await actor_of(agent_user, marketplace))
    assert listed["staffMembers"] == [
        {"email": admin_user.email, "role": "ADMIN"},
        {"email": agent_user.email, "role": "ADMIN"},
    ]


async def test_the_last_admin_can_be_neither_demoted_nor_removed():
    marketplace = await make_marketplace()
    only_admin = await make_user(email="solo.admin@example.com")
    await StaffMember.create(user=only_admin, marketplace=marketplace, role=StaffRole.ADMIN)
    await make_staff(marketplace, StaffRole.AGENT)
    admin = await actor_of(only_admin, marketplace)

    demoted = await ok(CHANGE, {"input": {"email": only_admin.email, "role": "AGENT"}}, actor=admin)
    removed = await ok(REMOVE, {"input": {"email": only_admin.email}}, actor=admin)
    readded = await ok(
        """mutation($input: AddStaffMemberInput!) { addStaffMember(input: $input) {
          userErrors { code } } }""",
        {"input": {"email": only_admin.email, "role": "AGENT"}},
        actor=admin,
    )

    assert demoted["changeStaffRole"]["userErrors"] == [{"field": "email", "code": "LAST_ADMIN"}]
    assert removed["removeStaffMember"]["userErrors"] == [{"field": "email", "code": "LAST_ADMIN"}]
    assert readded["addStaffMember"]["userErrors"] == [{"code": "LAST_ADMIN"}]
    assert (await StaffMember.get(user_id=only_admin.id)).role is StaffRole.ADMIN


async def test_an_admin_may_step_down_once_another_admin_exists():
    marketplace = await make_marketplace()
    first = await make_staff(marketplace)
    await make_staff(marketplace)
    admin = await actor_of(first, marketplace)

    data = await ok(CHANGE, {"input": {"email": first.email, "role": "AGENT"}}, actor=admin)

    assert data["changeStaffRole"]["staffMember"] == {"email": first.email, "role": "AGENT"}


async def test_a_removed_member_loses_access_at_its_next_request_and_its_api_keys_stay():
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    leaving = await make_staff(marketplace)
    leaving_actor = await actor_of(leaving, marketplace)
    key, _ = await create_api_key(leaving_actor, name="Import", scope=ApiScope.READ)
    token, _ = make_access_token(leaving.id)
    before = await authenticate(bearer=token, api_key=None, marketplace_id=marketplace.id)
    assert before.is_admin

    data = await ok(REMOVE, {"input": {"email": leaving.email}}, actor=admin)

    assert data["removeStaffMember"] == {
        "userErrors": [],
        "staffMember": {"email": leaving.email, "role": "ADMIN"},
    }
    with pytest.raises(AuthError) as refused:
        await authenticate(bearer=token, api_key=None, marketplace_id=marketplace.id)
    assert refused.value.code == "MARKETPLACE_NOT_FOUND"
    await key.refresh_from_db()
    assert key.revoked_at is None  # the marketplace's key, not the person's


async def test_staff_of_another_marketplace_is_not_found_and_agents_may_not_manage_staff():
    marketplace, other = await make_marketplace(), await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    outsider = await make_staff(other, StaffRole.AGENT)
    agent_user = await make_staff(marketplace, StaffRole.AGENT)

    foreign = await ok(REMOVE, {"input": {"email": outsider.email}}, actor=admin)
    assert foreign["removeStaffMember"]["userErrors"] == [{"field": "email", "code": "NOT_FOUND"}]
    assert await StaffMember.exists(user_id=outsider.id)

    denied = await execute(
        REMOVE,
        {"input": {"email": agent_user.email}},
        actor=await actor_of(agent_user, marketplace),
    )
    assert denied.codes == ["FORBIDDEN"]


LIVE = "subscription { membershipUpdated { membership { id status } } }"


async def test_a_removed_member_s_open_subscription_stops_delivering():
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    leaving = await make_staff(marketplace, StaffRole.AGENT)
    staying_feed = await open_feed(LIVE, "membershipUpdated", admin)
    leaving_feed = await open_feed(LIVE, "membershipUpdated", await actor_of(leaving, marketplace))
    first, second = await make_membership(marketplace), await make_membership(marketplace)

    await suspend_provider(admin, membership_id=first.id)
    await leaving_feed.wait(1)
    await ok(REMOVE, {"input": {"email": leaving.email}}, actor=admin)
    await asyncio.sleep(1.1)  # past the second a role check is kept
    await suspend_provider(admin, membership_id=second.id)

    await staying_feed.wait(2)
    await asyncio.sleep(0.3)
    assert len(leaving_feed.items) == 1
    await staying_feed.close()
    await leaving_feed.close()
