"""The live feeds of requests: sent to the viewer's company, and changed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry
from strawberry import relay

from resolvers.actor import Actor
from resolvers.dispatch import core
from resolvers.dispatch import live as compiled_live
from schema.base import After, decode_id
from schema.context import Info
from schema.dispatch.types import Dispatch, ServiceRequest
from schema.http.live import decode_event_cursor, encode_event_cursor, follow


@strawberry.type(description="A request was sent to the viewer's company.")
class ServiceRequestDispatchedEvent:
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    service_request: ServiceRequest = strawberry.field(description="The request.")
    dispatch: Dispatch = strawberry.field(description="The request as sent to the viewer.")


@strawberry.type(description="A request the viewer can see changed (status, answers, proposal).")
class ServiceRequestUpdatedEvent:
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    service_request: ServiceRequest = strawberry.field(description="The request as it now is.")


async def _load_dispatched(
    actor: Actor, envelope: dict[str, Any]
) -> ServiceRequestDispatchedEvent | None:
    dispatch = await core.dispatch_for_provider(
        actor, envelope["object_id"], event_id=envelope["id"]
    )
    if dispatch is None:
        return None
    return ServiceRequestDispatchedEvent(
        cursor="",
        service_request=ServiceRequest.from_model(dispatch.request),
        dispatch=Dispatch.from_model(dispatch),
    )


def _load_updated(request_id: int | None) -> Any:
    async def load(actor: Actor, envelope: dict[str, Any]) -> ServiceRequest | None:
        if request_id is not None and envelope["object_id"] != request_id:
            return None
        if not await core.still_allowed(actor):
            return None
        found = await core.visible_requests(actor, [envelope["object_id"]])
        return ServiceRequest.from_model(found[0]) if found else None

    return load


# Its compiled reading (one statement per event for every subscriber) is declared there.
assert compiled_live.__name__


@strawberry.type
class DispatchSubscription:
    @strawberry.subscription(
        description="Provider users: every request sent to their company in the acting "
        "marketplace, live (first sending and reminder rounds). Stops delivering when the "
        "provider is no longer accepted. `after` replays what was missed."
    )
    async def service_request_dispatched(
        self,
        info: Info,
        after: After = None,
    ) -> AsyncGenerator[ServiceRequestDispatchedEvent, None]:
        actor = info.context.actor
        actor.require_marketplace()
        async for event_id, item in follow(
            actor,
            topics=[core.REQUEST_DISPATCHED],
            after=decode_event_cursor(after),
            load=_load_dispatched,
        ):
            item.cursor = encode_event_cursor(event_id)
            yield item

    @strawberry.subscription(
        description="Changes of the requests the viewer can see (or of one): status, answers, "
        "proposal. Access is checked again for every event."
    )
    async def service_request_updated(
        self,
        info: Info,
        request_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this request.")
        ] = None,
        after: After = None,
    ) -> AsyncGenerator[ServiceRequestUpdatedEvent, None]:
        actor = info.context.actor
        actor.require_marketplace()
        wanted = decode_id(request_id, "ServiceRequest", field="requestId") if request_id else None
        async for event_id, item in follow(
            actor,
            topics=[core.REQUEST_UPDATED],
            after=decode_event_cursor(after),
            load=_load_updated(wanted),
            share=("serviceRequestUpdated", wanted),
        ):
            yield ServiceRequestUpdatedEvent(
                cursor=encode_event_cursor(event_id), service_request=item
            )
