"""A marketplace ready for dispatch: a service, a client, providers that match an address."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.account import StaffRole
from models.catalog import Service
from models.marketplace import Marketplace
from models.membership import Membership
from resolvers.actor import Actor
from resolvers.dispatch.request import NewRequest, create_service_request
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff
from tests.factories.catalog import give_zone, make_service, offer
from tests.factories.membership import make_membership, make_provider_user

POSTAL_CODE = "75011"


@dataclass
class Provider:
    membership: Membership
    actor: Actor
    email: str


@dataclass
class World:
    marketplace: Marketplace
    service: Service
    client_id: int
    client_email: str
    client: Actor
    staff: Actor
    providers: list[Provider] = field(default_factory=list)

    async def add_provider(self, *, postal_code: str = POSTAL_CODE) -> Provider:
        membership = await make_membership(self.marketplace)
        await offer(membership, self.service)
        await give_zone(membership, postal_codes=(postal_code,))
        user = await make_provider_user(membership)
        provider = Provider(membership, await actor_of(user, self.marketplace), user.email)
        self.providers.append(provider)
        return provider

    async def request(self, **kw) -> int:
        data = NewRequest(
            service_id=self.service.id,
            postal_code=kw.pop("postal_code", POSTAL_CODE),
            city=kw.pop("city", "Paris"),
            description=kw.pop("description", "Weekly cleaning, 3 rooms"),
            **kw,
        )
        created = await create_service_request(self.client, data)
        return int(created.id)


async def make_world(providers: int = 3, **settings) -> World:
    """``settings`` are marketplace dispatch settings (proposals_required=...)."""
    marketplace = await make_marketplace(**settings)
    service = await make_service(marketplace, name="Cleaning")
    client = await make_client(marketplace)
    await client.fetch_related("user")
    client_user = client.user
    assert client_user is not None
    staff = await make_staff(marketplace, StaffRole.AGENT)
    world = World(
        marketplace=marketplace,
        service=service,
        client_id=client.id,
        client_email=client.email,
        client=await actor_of(client_user, marketplace),
        staff=await actor_of(staff, marketplace),
    )
    for _ in range(providers):
        await world.add_provider()
    return world
