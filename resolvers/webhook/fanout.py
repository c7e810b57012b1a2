"""Events become webhook deliveries.

After an event-recording transaction commits, a job reads the marketplace's events after each
endpoint's cursor (``fanned_out_to``; event ids become visible in id order, so none is
skipped) and writes one delivery per matching event, under the endpoint's row lock and a
unique (endpoint, event) constraint: each is created once, whoever runs it. The same job then
sends them (one job between the commit and the receiver, not two).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import datetime, timedelta
from typing import cast

import orjson
from tortoise.expressions import Subquery

from models.events import Event
from models.webhook import WebhookDelivery, WebhookEndpoint, WebhookEndpointStatus
from presta import clock
from presta.i18n import _
from presta.settings import settings
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.errors import UserError
from resolvers.events import event_cursor
from resolvers.webhook.endpoint import EVENT_TYPES, WebhookErrorCode, endpoint_for
from resolvers.webhook.sender import send_webhooks

# An endpoint without a list of topics gets every topic offered to partners, no other.
OFFERED = frozenset(EVENT_TYPES)

FAN_OUT_BATCH = 500


def global_id(type_name: str, pk: int) -> str:
    """The Relay global ID clients pass to ``node(id:)`` (the schema's encoding)."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def body(event: Event) -> str:
    """The JSON body sent for an event: Standard Webhooks' ``type``/``timestamp``/``data``,
    the data being the event as the log and the subscriptions know it."""
    return orjson.dumps(
        {
            "type": event.topic,
            "timestamp": event.created_at,
            "data": {
                "eventId": event.id,
                "cursor": event_cursor(event.id),
                "topic": event.topic,
                "objectType": event.object_type,
                "objectId": global_id(event.object_type, event.object_id),
                "marketplaceId": global_id("Marketplace", event.marketplace_id or 0),
                "payload": event.payload,
            },
        },
        option=orjson.OPT_UTC_Z,
    ).decode()


async def fan_out_webhooks(marketplace_id: int) -> int:
    """Deliveries for the marketplace's new events, for every active endpoint, then sent
    (each endpoint by its own sender, side by side); how many were created."""
    ids = cast(
        list[int],
        await WebhookEndpoint.filter(
            marketplace_id=marketplace_id, status=WebhookEndpointStatus.ACTIVE
        ).values_list("id", flat=True),
    )
    created = {i: await fan_out_endpoint(i) for i in ids}
    # No transaction is open here: the senders may run side by side. One that crashes leaves
    # its deliveries due, for the sweep.
    await asyncio.gather(*(send_webhooks(i) for i, count in created.items() if count))
    return sum(created.values())


async def fan_out_endpoint(endpoint_id: int) -> int:
    """Create the endpoint's deliveries for the events after its cursor; how many."""
    created = 0
    while True:
        async with atomic():
            endpoint = (
                await WebhookEndpoint.filter(id=endpoint_id, status=WebhookEndpointStatus.ACTIVE)
                .select_for_update()
                .first()
            )
            if endpoint is None:
                return created
            events = (
                await Event.filter(
                    marketplace_id=endpoint.marketplace_id, id__gt=endpoint.fanned_out_to
                )
                .order_by("id")
                .limit(FAN_OUT_BATCH)
            )
            if not events:
                return created
            created += await create_deliveries(endpoint, events)
            await WebhookEndpoint.filter(id=endpoint.id).update(fanned_out_to=events[-1].id)
        if len(events) < FAN_OUT_BATCH:
            return created


async def create_deliveries(endpoint: WebhookEndpoint, events: list[Event]) -> int:
    """A delivery of each event the endpoint takes (its topics, else every offered one),
    unless it has one already (unique by endpoint and event); how many were asked."""
    now = clock.now()
    give_up_at = now + timedelta(days=settings().webhook_retry_days)
    wanted = endpoint.topics if endpoint.topics is not None else OFFERED
    rows = [
        WebhookDelivery(
            endpoint_id=endpoint.id,
            event_id=e.id,
            message_id=f"msg_{uuid.uuid4().hex}",
            topic=e.topic,
            object_type=e.object_type,
            object_id=e.object_id,
            body=body(e),
            next_attempt_at=now,
            give_up_at=give_up_at,
        )
        for e in events
        if e.topic in wanted
    ]
    if rows:
        await WebhookDelivery.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


async def recover_webhook_events(actor: Actor, *, endpoint_id: int, since: datetime) -> int:
    """ADMIN: send an endpoint the events of its topics recorded since ``since`` that it never
    got a delivery of (while it was disabled, before it took a topic), as Svix's "recover":
    new deliveries, sent now; how many. ``since`` is within the event log's retention."""
    oldest = clock.now() - timedelta(days=settings().event_retention_days)
    if since.tzinfo is None or since < oldest:
        raise UserError(
            WebhookErrorCode.OUT_OF_RANGE,
            _(
                "Give a time with a UTC offset, within the last {days} days.",
                days=settings().event_retention_days,
            ),
            field="since",
        )
    recovered = 0
    async with atomic() as tx:
        endpoint = await endpoint_for(actor, endpoint_id, lock=True)
        if endpoint.status is not WebhookEndpointStatus.ACTIVE:
            raise UserError(
                WebhookErrorCode.ENDPOINT_DISABLED, _("Enable the endpoint first."), field="id"
            )
        sent = WebhookDelivery.filter(endpoint_id=endpoint.id).values("event_id")
        missed = Event.filter(
            marketplace_id=endpoint.marketplace_id,
            created_at__gte=since,
            id__lte=endpoint.fanned_out_to,  # later ones are the fan-out's
        ).exclude(id__in=Subquery(sent))
        for batch in _batches(await missed.order_by("id")):
            recovered += await create_deliveries(endpoint, batch)
        if recovered:
            tx.enqueue("send_webhooks", endpoint_id=endpoint.id)
    return recovered


def _batches(events: list[Event]) -> list[list[Event]]:
    return [events[i : i + FAN_OUT_BATCH] for i in range(0, len(events), FAN_OUT_BATCH)]
