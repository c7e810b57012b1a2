"""Live feeds of visits, of providers' services, and of everything in the marketplace."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from resolvers import catalog, feed, intervention
from resolvers.actor import Actor
from schema.base import After, decode_id, encode_id
from schema.catalog import ProviderService
from schema.context import Info
from schema.http.live import decode_event_cursor, encode_event_cursor, follow
from schema.intervention import Intervention


@strawberry.type(description="A visit the viewer can see was scheduled, moved or changed status.")
class InterventionUpdatedEvent:
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    intervention: Intervention = strawberry.field(description="The visit as it now is.")


@strawberry.type(description="A provider's application for a service changed status.")
class ProviderServiceUpdatedEvent:
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    provider_service: ProviderService = strawberry.field(
        description="The application as it now is."
    )


@strawberry.type(description="Something changed in the marketplace: fetch it with `node(id:)`.")
class MarketplaceEvent:
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    topic: str = strawberry.field(
        description="What happened: intervention.updated, provider_service.updated, "
        "service.updated, zone.updated, terms.published, terms.accepted, invoice.filed, "
        "membership.updated, service_request.updated, document.reviewed."
    )
    subject_id: relay.GlobalID = strawberry.field(
        description="The object that changed (an Intervention, ProviderService, Service, "
        "Membership, TermsOfUse, Document or ServiceRequest)."
    )
    change: str | None = strawberry.field(
        description="The kind of change when the topic has several (e.g. scheduled, "
        "rescheduled, cancelled for a visit)."
    )
    occurred_at: datetime = strawberry.field(description="When it happened.")


def _load_intervention(wanted: int | None) -> Any:
    async def load(actor: Actor, envelope: dict[str, Any]) -> Intervention | None:
        if wanted is not None and envelope["object_id"] != wanted:
            return None
        found = await feed.live_intervention(actor, envelope["object_id"])
        return Intervention.from_model(found) if found is not None else None

    return load


async def _load_provider_service(actor: Actor, envelope: dict[str, Any]) -> ProviderService | None:
    found = await feed.live_provider_service(actor, envelope["object_id"])
    return ProviderService.from_model(found) if found is not None else None


async def _load_marketplace_event(
    actor: Actor, envelope: dict[str, Any]
) -> feed.MarketplaceEvent | None:
    return await feed.marketplace_event(actor, envelope)


@strawberry.type
class FeedSubscription:
    @strawberry.subscription(
        description="Visits scheduled, moved, started, completed or cancelled, live: staff see "
        "the marketplace's, a provider and a client their own. Access is checked again for "
        "every event; `after` replays what was missed."
    )
    async def intervention_updated(
        self,
        info: Info,
        intervention_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this visit.")
        ] = None,
        after: After = None,
    ) -> AsyncGenerator[InterventionUpdatedEvent, None]:
        actor = info.context.actor
        actor.require_marketplace()
        wanted = (
            decode_id(intervention_id, "Intervention", field="interventionId")
            if intervention_id
            else None
        )
        async for event_id, item in follow(
            actor,
            topics=[intervention.INTERVENTION_UPDATED],
            after=decode_event_cursor(after),
            load=_load_intervention(wanted),
            share=("interventionUpdated", wanted),
        ):
            yield InterventionUpdatedEvent(cursor=encode_event_cursor(event_id), intervention=item)

    @strawberry.subscription(
        description="Providers' applications for services accepted, rejected or deactivated, "
        "live: staff see every provider's, a provider its own. `after` replays what was missed."
    )
    async def provider_service_updated(
        self,
        info: Info,
        after: After = None,
    ) -> AsyncGenerator[ProviderServiceUpdatedEvent, None]:
        actor = info.context.actor
        actor.require_marketplace()
        async for event_id, item in follow(
            actor,
            topics=[catalog.PROVIDER_SERVICE_UPDATED],
            after=decode_event_cursor(after),
            load=_load_provider_service,
        ):
            yield ProviderServiceUpdatedEvent(
                cursor=encode_event_cursor(event_id), provider_service=item
            )

    @strawberry.subscription(
        description="One feed of every change in the acting marketplace addressed to the "
        "viewer (staff dashboards: all of them; a provider: its own visits, services, zone, "
        "terms and invoices). Each event names its object; `after` replays what was missed."
    )
    async def marketplace_events(
        self,
        info: Info,
        after: After = None,
        topics: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these topics (default: all of them)."),
        ] = None,
    ) -> AsyncGenerator[MarketplaceEvent, None]:
        actor = info.context.actor
        actor.require_marketplace()
        wanted = [t for t in feed.MARKETPLACE_TOPICS if topics is None or t in topics]
        async for event_id, item in follow(
            actor,
            topics=wanted,
            after=decode_event_cursor(after),
            load=_load_marketplace_event,
        ):
            yield MarketplaceEvent(
                cursor=encode_event_cursor(event_id),
                topic=item.topic,
                subject_id=encode_id(item.object_type, item.object_id),
                change=item.change,
                occurred_at=item.occurred_at,
            )
