"""A marketplace with its ADMIN, webhook endpoints pointing at a receiver, and events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from models.account import StaffRole
from models.events import Event
from models.marketplace import Marketplace
from models.webhook import WebhookDelivery, WebhookEndpoint
from presta import jobs
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.catalog import SERVICE_UPDATED
from resolvers.events import record_event, staff_audience
from resolvers.webhook.endpoint import create_webhook_endpoint
from tests.factories.account import actor_of, make_marketplace, make_staff


@dataclass
class Hooked:
    marketplace: Marketplace
    admin: Actor
    admin_email: str
    endpoint: WebhookEndpoint
    secret: str


async def hooked(url: str, **options: Any) -> Hooked:
    """A marketplace and its ADMIN with one endpoint at ``url``."""
    marketplace = await make_marketplace()
    user = await make_staff(marketplace, StaffRole.ADMIN)
    admin = await actor_of(user, marketplace)
    endpoint, secret = await create_webhook_endpoint(admin, url=url, **options)
    return Hooked(marketplace, admin, user.email, endpoint, secret)


async def record_events(
    marketplace_id: int, count: int = 1, *, topic: str = SERVICE_UPDATED, one_tx: bool = False
) -> list[Event]:
    """``count`` events of the marketplace, each in its transaction (or all in one), and the
    jobs they start run to the end."""
    found: list[Event] = []

    async def one(n: int) -> None:
        async with atomic() as tx:
            found.append(
                await record_event(
                    tx,
                    topic=topic,
                    marketplace_id=marketplace_id,
                    object_type="Service",
                    object_id=1000 + n,
                    audience=[staff_audience(marketplace_id)],
                    payload={"n": n},
                )
            )

    if one_tx:
        async with atomic():
            for n in range(count):
                await one(n)
    else:
        for n in range(count):
            await one(n)
    await jobs.drain()
    return found


async def deliveries_of(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    return await WebhookDelivery.filter(endpoint_id=endpoint.id).order_by("id")


def event_ids(bodies: list[bytes]) -> list[int]:
    return [orjson.loads(b)["data"]["eventId"] for b in bodies]
