"""Who still receives a live feed's events (``resolvers.feed.still_present``), asked in one
statement per viewer, and a marketplace event read once for all the viewers it is handed to."""

from __future__ import annotations

from models.account import ApiScope, StaffRole, User
from models.events import Event
from models.membership import Membership, MembershipStatus
from presta.sharing import Shared
from resolvers import feed
from resolvers.account import create_api_key, revoke_api_key
from resolvers.actor import Actor
from resolvers.authentication import authenticate
from resolvers.staff import remove_staff_member
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff
from tests.factories.membership import make_membership, make_provider_user
from tests.support.counting import counting


async def _present(actor: Actor) -> tuple[bool, int]:
    with counting() as statements:
        present = await feed.still_present(actor)
    return present, len(statements)


async def test_each_kind_of_viewer_stays_until_its_access_ends_and_is_asked_in_one_statement():
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    agent_user = await make_staff(marketplace, StaffRole.AGENT)
    agent = await actor_of(agent_user, marketplace)
    membership = await make_membership(marketplace)
    provider = await actor_of(await make_provider_user(membership), marketplace)
    _key, secret = await create_api_key(admin, name="partner", scope=ApiScope.READ)
    partner = await authenticate(bearer=None, api_key=secret, marketplace_id=marketplace.id)
    client = await make_client(marketplace)
    assert client.user_id is not None
    client_actor = await actor_of(await User.get(id=client.user_id), marketplace)

    for viewer in (admin, agent, provider, partner, client_actor):
        assert await _present(viewer) == (True, 1)

    await remove_staff_member(admin, email=agent_user.email)
    await Membership.filter(id=membership.id).update(status=MembershipStatus.DELETED)
    await revoke_api_key(admin, key_id=_key.id)
    await User.filter(id=client.user_id).update(is_active=False)

    for viewer in (agent, provider, partner, client_actor):
        assert await _present(viewer) == (False, 1)
    assert await _present(admin) == (True, 1)


async def test_a_marketplace_event_is_read_once_for_every_viewer_it_is_handed_to():
    marketplace = await make_marketplace()
    viewers = [
        await actor_of(await make_staff(marketplace, role), marketplace)
        for role in (StaffRole.ADMIN, StaffRole.AGENT, StaffRole.ADMIN)
    ]
    event = await Event.create(
        topic="zone.updated",
        marketplace_id=marketplace.id,
        object_type="Zone",
        object_id=7,
        payload={"change": "created"},
    )
    Shared.forget_all()

    with counting() as statements:
        seen = [await feed.marketplace_event(v, {"id": event.id}) for v in viewers]

    assert [s.object_id if s else None for s in seen] == [7, 7, 7]
    assert {s.change for s in seen if s} == {"created"}
    assert len(statements) == 1 + len(viewers)  # the event once, then each viewer's presence
