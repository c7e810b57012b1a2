"""Mutations on requests: create, cancel, assign, answer, accept a proposal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry import relay

from models.dispatch import DispatchStatus, Frequency
from resolvers.actor import Actor
from resolvers.dispatch import proposal as answers
from resolvers.dispatch import request as use_cases
from resolvers.dispatch.core import DispatchErrorCode
from schema.base import Mutations, decode_id, encode_id
from schema.context import Info
from schema.dispatch.types import Dispatch, DispatchError, ServiceRequest


@strawberry.enum(description="A provider's answer to a request.")
class RequestAnswer(Enum):
    INTERESTED = "INTERESTED"
    DECLINED = "DECLINED"


@strawberry.input(description="A new request for a service at an address.")
class CreateServiceRequestInput:
    service_id: relay.GlobalID = strawberry.field(description="The service asked for.")
    postal_code: str = strawberry.field(description="Postal code of the address (5 digits).")
    city: str = strawberry.field(description="City of the address.")
    address_line: str = strawberry.field(default="", description="Street address.")
    latitude: float | None = strawberry.field(default=None, description="Latitude, if known.")
    longitude: float | None = strawberry.field(default=None, description="Longitude, if known.")
    description: str = strawberry.field(default="", description="What is needed (≤ 5000).")
    wished_start: datetime | None = strawberry.field(
        default=None, description="When the client wishes to start (not in the past)."
    )
    frequency: Frequency | None = strawberry.field(
        default=None, description="For a recurring request; null for a one-off."
    )
    duration_minutes: int | None = strawberry.field(
        default=None, description="Expected length of each visit (15 to 1440 minutes)."
    )
    client_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="Staff only: the client the request is for (find it with "
        "`clients(search:)`, or create it with `createClient`).",
    )


@strawberry.type(description="Result of createServiceRequest.")
class CreateServiceRequestPayload:
    user_errors: list[DispatchError] = strawberry.field(description="Expected failures.")
    service_request: ServiceRequest | None = strawberry.field(
        default=None, description="The request: OPEN (sent), UNMATCHED, or OPEN unsent."
    )


@strawberry.input(description="Cancel a request no provider was chosen for yet.")
class CancelServiceRequestInput:
    request_id: relay.GlobalID = strawberry.field(description="The request.")
    reason: str = strawberry.field(default="", description="Why (at most 2000 characters).")


@strawberry.type(description="Result of cancelServiceRequest.")
class CancelServiceRequestPayload:
    user_errors: list[DispatchError] = strawberry.field(description="Expected failures.")
    service_request: ServiceRequest | None = strawberry.field(
        default=None, description="The cancelled request."
    )


@strawberry.input(description="Staff: send a request to chosen providers.")
class AssignServiceRequestInput:
    request_id: relay.GlobalID = strawberry.field(description="The request.")
    provider_ids: list[relay.GlobalID] = strawberry.field(
        description="Memberships of accepted providers (1 to 100)."
    )


@strawberry.type(description="A provider was asked although the matching rules would not.")
class AssignmentWarning:
    provider_id: relay.GlobalID = strawberry.field(description="The provider's Membership.")
    message: str = strawberry.field(description="What the matching rules say.")


@strawberry.type(description="Result of assignServiceRequest.")
class AssignServiceRequestPayload:
    user_errors: list[DispatchError] = strawberry.field(description="Expected failures.")
    service_request: ServiceRequest | None = strawberry.field(
        default=None, description="The request."
    )
    warnings: list[AssignmentWarning] = strawberry.field(
        default_factory=list, description="Providers asked against the matching rules."
    )


@strawberry.input(description="A provider's answer to a request sent to it.")
class RespondToServiceRequestInput:
    request_id: relay.GlobalID = strawberry.field(description="The request.")
    answer: RequestAnswer = strawberry.field(description="INTERESTED or DECLINED.")
    message: str = strawberry.field(default="", description="For the client (≤ 2000).")
    price: Decimal | None = strawberry.field(default=None, description="Offered price, EUR.")


@strawberry.type(description="Result of respondToServiceRequest.")
class RespondToServiceRequestPayload:
    user_errors: list[DispatchError] = strawberry.field(description="Expected failures.")
    service_request: ServiceRequest | None = strawberry.field(
        default=None, description="The request (PROPOSAL_SENT if this answer completed it)."
    )
    dispatch: Dispatch | None = strawberry.field(default=None, description="The answer.")


@strawberry.input(description="The client chooses a provider of the proposal.")
class AcceptProposalInput:
    request_id: relay.GlobalID = strawberry.field(description="The request.")
    provider_id: relay.GlobalID = strawberry.field(description="The chosen provider's Membership.")


@strawberry.type(description="Result of acceptProposal.")
class AcceptProposalPayload:
    user_errors: list[DispatchError] = strawberry.field(description="Expected failures.")
    service_request: ServiceRequest | None = strawberry.field(
        default=None, description="The ACCEPTED request."
    )
    dispatch: Dispatch | None = strawberry.field(default=None, description="The SELECTED one.")


def _request_id(gid: relay.GlobalID) -> int:
    return decode_id(gid, "ServiceRequest", field="requestId")


async def _create(actor: Actor, data: CreateServiceRequestInput) -> dict[str, Any]:
    request = await use_cases.create_service_request(
        actor,
        use_cases.NewRequest(
            service_id=decode_id(data.service_id, "Service", field="serviceId"),
            postal_code=data.postal_code,
            city=data.city,
            address_line=data.address_line,
            latitude=data.latitude,
            longitude=data.longitude,
            description=data.description,
            wished_start=data.wished_start,
            frequency=data.frequency,
            duration_minutes=data.duration_minutes,
        ),
        client_id=decode_id(data.client_id, "Client", field="clientId") if data.client_id else None,
    )
    return {"service_request": ServiceRequest.from_model(request)}


async def _cancel(actor: Actor, data: CancelServiceRequestInput) -> dict[str, Any]:
    request = await use_cases.cancel_service_request(
        actor, request_id=_request_id(data.request_id), reason=data.reason
    )
    return {"service_request": ServiceRequest.from_model(request)}


async def _assign(actor: Actor, data: AssignServiceRequestInput) -> dict[str, Any]:
    request, warnings = await use_cases.assign_service_request(
        actor,
        request_id=_request_id(data.request_id),
        membership_ids=[decode_id(p, "Membership", field="providerIds") for p in data.provider_ids],
    )
    return {
        "service_request": ServiceRequest.from_model(request),
        "warnings": [
            AssignmentWarning(
                provider_id=encode_id("Membership", w.membership_id), message=w.message
            )
            for w in warnings
        ],
    }


async def _respond(actor: Actor, data: RespondToServiceRequestInput) -> dict[str, Any]:
    request, dispatch = await answers.respond_to_service_request(
        actor,
        request_id=_request_id(data.request_id),
        answer=answers.Answer(
            status=DispatchStatus(data.answer.value), message=data.message, price=data.price
        ),
    )
    return {
        "service_request": ServiceRequest.from_model(request),
        "dispatch": Dispatch.from_model(dispatch),
    }


async def _accept(actor: Actor, data: AcceptProposalInput) -> dict[str, Any]:
    request, dispatch = await answers.accept_proposal(
        actor,
        request_id=_request_id(data.request_id),
        membership_id=decode_id(data.provider_id, "Membership", field="providerId"),
    )
    return {
        "service_request": ServiceRequest.from_model(request),
        "dispatch": Dispatch.from_model(dispatch),
    }


_run = Mutations(DispatchError, DispatchErrorCode)


@strawberry.type
class DispatchMutation:
    @strawberry.mutation(
        description="A client (for itself) or staff (for a client) create a request. With "
        "dispatch on, every matching provider is asked at once (none: UNMATCHED, staff told)."
    )
    async def create_service_request(
        self, info: Info, input: CreateServiceRequestInput
    ) -> CreateServiceRequestPayload:
        return await _run(CreateServiceRequestPayload, _create(info.context.actor, input))

    @strawberry.mutation(description="The client or staff cancel a request not yet accepted.")
    async def cancel_service_request(
        self, info: Info, input: CancelServiceRequestInput
    ) -> CancelServiceRequestPayload:
        return await _run(CancelServiceRequestPayload, _cancel(info.context.actor, input))

    @strawberry.mutation(
        description="Staff send an OPEN or UNMATCHED request to chosen accepted providers; "
        "those the matching rules would not pick come back as warnings."
    )
    async def assign_service_request(
        self, info: Info, input: AssignServiceRequestInput
    ) -> AssignServiceRequestPayload:
        return await _run(AssignServiceRequestPayload, _assign(info.context.actor, input))

    @strawberry.mutation(
        description="A provider answers a request sent to it. It may change its mind until "
        "the proposal is sent; an INTERESTED answer after that joins the proposal."
    )
    async def respond_to_service_request(
        self, info: Info, input: RespondToServiceRequestInput
    ) -> RespondToServiceRequestPayload:
        return await _run(RespondToServiceRequestPayload, _respond(info.context.actor, input))

    @strawberry.mutation(
        description="The client chooses one provider of the proposal: the request is ACCEPTED, "
        "that provider SELECTED, the others NOT_SELECTED; each is told."
    )
    async def accept_proposal(
        self, info: Info, input: AcceptProposalInput
    ) -> AcceptProposalPayload:
        return await _run(AcceptProposalPayload, _accept(info.context.actor, input))
