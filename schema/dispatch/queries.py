"""The requests list, and a provider's Requests tab."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import strawberry
from strawberry import relay

from models.dispatch import RequestStatus
from models.dispatch import ServiceRequest as ServiceRequestModel
from resolvers.dispatch import request as use_cases
from resolvers.pagination import Page
from schema.base import After, Before, Connection, First, Last, connection, decode_id
from schema.context import Info
from schema.dispatch.types import ServiceRequest


def _filter(
    status: RequestStatus | None,
    service_id: relay.GlobalID | None,
    postal_code: str | None,
    created_from: date | None,
    created_to: date | None,
) -> use_cases.RequestFilter:
    return use_cases.RequestFilter(
        status=status,
        service_id=decode_id(service_id, "Service", field="serviceId") if service_id else None,
        postal_code=postal_code,
        created_from=created_from,
        created_to=created_to,
    )


async def requests_connection(
    info: Info, found: Page[ServiceRequestModel]
) -> Connection[ServiceRequest]:
    result = connection(found, ServiceRequest.from_model)
    await ServiceRequest.prime(info, [e.node for e in result.edges])
    return result


async def requests_tab(info: Info, membership_id: int, **page: Any) -> Connection[ServiceRequest]:
    found = await use_cases.requests_tab(info.context.actor, membership_id, **page)
    return await requests_connection(info, found)


@strawberry.type
class DispatchQuery:
    @strawberry.field(
        description="Requests: staff see every request of the marketplace; a provider, every "
        "request sent to it whatever its status (its Requests tab); a client, its own. "
        "Newest first."
    )
    async def service_requests(
        self,
        info: Info,
        status: Annotated[
            RequestStatus | None, strawberry.argument(description="Only this status.")
        ] = None,
        service_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="Only requests for this service."),
        ] = None,
        postal_code: Annotated[
            str | None,
            strawberry.argument(description="Postal code, or its beginning (a département: `75`)."),
        ] = None,
        created_from: Annotated[
            date | None, strawberry.argument(description="Created on or after this day (UTC).")
        ] = None,
        created_to: Annotated[
            date | None, strawberry.argument(description="Created on or before this day (UTC).")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ServiceRequest]:
        f = _filter(status, service_id, postal_code, created_from, created_to)
        found = await use_cases.list_service_requests(
            info.context.actor, f, first=first, after=after, last=last, before=before
        )
        return await requests_connection(info, found)
