"""Interventions: the chosen provider's visits, and the Interventions tab."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from models.intervention import Intervention as InterventionModel
from models.intervention import InterventionStatus
from resolvers import intervention as use_cases
from resolvers.actor import Actor
from resolvers.pagination import Page
from schema.base import (
    After,
    Before,
    Connection,
    First,
    Last,
    Mutations,
    UserErrorBase,
    connection,
    decode_id,
    encode_id,
)
from schema.catalog import Service
from schema.context import Info
from schema.loaders import (
    MembershipByIdLoader,
    ServiceByIdLoader,
    VisibleRequestLoader,
    loader,
    prime_fields,
)
from schema.node import AuthorizedNode

strawberry.enum(
    use_cases.InterventionErrorCode, description="Why an intervention operation failed."
)
strawberry.enum(
    InterventionStatus,
    description="SCHEDULED, IN_PROGRESS, DONE or CANCELLED.",
)

if TYPE_CHECKING:
    from schema.dispatch.types import ServiceRequest

ServiceRequestRef = Annotated["ServiceRequest", strawberry.lazy("schema.dispatch.types")]


@strawberry.type(description="A failure of an intervention operation.")
class InterventionError(UserErrorBase):
    code: use_cases.InterventionErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="A visit of a provider for a client.")
class Intervention(AuthorizedNode):
    id: relay.NodeID[int]
    status: InterventionStatus = strawberry.field(description="Where the visit stands.")
    starts_at: datetime = strawberry.field(description="Planned start.")
    ends_at: datetime = strawberry.field(description="Planned end.")
    price: Decimal = strawberry.field(description="Price of the visit, EUR.")
    commission_rate: Decimal = strawberry.field(
        description="Commission rate (percent) in force when it was scheduled, frozen."
    )
    occurrence: int = strawberry.field(description="Its rank in a recurring series (1 first).")
    series_key: str = strawberry.field(description="Shared by the visits of one series.")
    cancel_reason: str = strawberry.field(description="Why it was cancelled, or empty.")
    started_at: datetime | None = strawberry.field(description="When it actually started.")
    completed_at: datetime | None = strawberry.field(description="When it was completed.")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled.")
    provider_id: relay.GlobalID = strawberry.field(description="The provider's Membership.")
    client_id: relay.GlobalID = strawberry.field(description="The client.")
    created_at: datetime = strawberry.field(description="When it was scheduled.")
    model: strawberry.Private[InterventionModel]

    @classmethod
    def from_model(cls, i: InterventionModel) -> Intervention:
        return cls(
            id=i.id,
            status=i.status,
            starts_at=i.starts_at,
            ends_at=i.ends_at,
            price=i.price,
            commission_rate=i.commission_rate,
            occurrence=i.occurrence,
            series_key=i.series_key,
            cancel_reason=i.cancel_reason,
            started_at=i.started_at,
            completed_at=i.completed_at,
            cancelled_at=i.cancelled_at,
            provider_id=encode_id("Membership", i.membership_id),
            client_id=encode_id("Client", i.client_id),
            created_at=i.created_at,
            model=i,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {i.id: cls.from_model(i) for i in await use_cases.visible_interventions(actor, ids)}

    @staticmethod
    async def prime(info: Info, visits: list[Intervention]) -> None:
        """Load what the fields asked of these visits read, one statement per relation,
        before graphql-core resolves them: each then finds its rows loaded."""
        await prime_fields(info, visits, {
            "service": lambda rows, _: loader(info, ServiceByIdLoader).load_many(
                [v.model.service_id for v in rows]),
            "companyName": lambda rows, _: loader(info, MembershipByIdLoader).load_many(
                [v.model.membership_id for v in rows]),
        })  # fmt: skip

    @strawberry.field(description="The service.")
    async def service(self, info: Info) -> Service:
        service_id = self.model.service_id
        return Service.from_model(await loader(info, ServiceByIdLoader).load(service_id))

    @strawberry.field(description="The provider company's name.")
    async def company_name(self, info: Info) -> str:
        membership_id = self.model.membership_id
        membership = await loader(info, MembershipByIdLoader).load(membership_id)
        return membership.company.name

    @strawberry.field(description="The request it comes from, if visible.")
    async def service_request(self, info: Info) -> ServiceRequestRef | None:
        from schema.dispatch.types import ServiceRequest

        request_id = self.model.request_id
        if request_id is None:
            return None
        found = await loader(info, VisibleRequestLoader).load(request_id)
        return ServiceRequest.from_model(found) if found is not None else None


@strawberry.input(description="Schedule the visits of an accepted request.")
class ScheduleInterventionInput:
    request_id: relay.GlobalID = strawberry.field(description="The ACCEPTED request.")
    starts_at: datetime = strawberry.field(description="Start of the (first) visit.")
    ends_at: datetime = strawberry.field(description="End of the (first) visit, within 24 h.")
    price: Decimal = strawberry.field(description="Price of each visit, EUR.")
    occurrences: int = strawberry.field(
        default=1, description="Recurring requests: visits in the series (1 to 52)."
    )


@strawberry.type(description="Result of scheduleIntervention.")
class ScheduleInterventionPayload:
    user_errors: list[InterventionError] = strawberry.field(description="Expected failures.")
    interventions: list[Intervention] = strawberry.field(
        default_factory=list, description="The scheduled visits, in date order."
    )


@strawberry.input(description="Move a scheduled visit.")
class RescheduleInterventionInput:
    intervention_id: relay.GlobalID = strawberry.field(description="The SCHEDULED visit.")
    starts_at: datetime = strawberry.field(description="New start.")
    ends_at: datetime = strawberry.field(description="New end, within 24 h of the start.")


@strawberry.input(description="Start, or complete, a visit.")
class InterventionActionInput:
    intervention_id: relay.GlobalID = strawberry.field(description="The visit.")


@strawberry.input(description="Cancel a visit.")
class CancelInterventionInput:
    intervention_id: relay.GlobalID = strawberry.field(description="The visit.")
    reason: str = strawberry.field(description="Why (1 to 2000 characters).")


@strawberry.type(description="Result of an operation on one intervention.")
class InterventionPayload:
    user_errors: list[InterventionError] = strawberry.field(description="Expected failures.")
    intervention: Intervention | None = strawberry.field(
        default=None, description="The visit as it now is."
    )


RescheduleInterventionPayload = InterventionPayload
StartInterventionInput = InterventionActionInput
CompleteInterventionInput = InterventionActionInput


def _id(gid: relay.GlobalID) -> int:
    return decode_id(gid, "Intervention", field="interventionId")


async def _schedule(actor: Actor, data: ScheduleInterventionInput) -> dict[str, Any]:
    created = await use_cases.schedule_intervention(
        actor,
        request_id=decode_id(data.request_id, "ServiceRequest", field="requestId"),
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        price=data.price,
        occurrences=data.occurrences,
    )
    return {"interventions": [Intervention.from_model(i) for i in created]}


async def _reschedule(actor: Actor, data: RescheduleInterventionInput) -> dict[str, Any]:
    done = await use_cases.reschedule_intervention(
        actor,
        intervention_id=_id(data.intervention_id),
        starts_at=data.starts_at,
        ends_at=data.ends_at,
    )
    return {"intervention": Intervention.from_model(done)}


async def _transition(
    actor: Actor, gid: relay.GlobalID, to: InterventionStatus, reason: str = ""
) -> dict[str, Any]:
    done = await use_cases.change_intervention_status(
        actor, intervention_id=_id(gid), to=to, reason=reason
    )
    return {"intervention": Intervention.from_model(done)}


_run = Mutations(InterventionError, use_cases.InterventionErrorCode)


@strawberry.type
class InterventionMutation:
    @strawberry.mutation(
        description="Staff or the chosen provider schedule an ACCEPTED request's visit (a "
        "recurring request: a series); the commission rate in force is frozen on each."
    )
    async def schedule_intervention(
        self, info: Info, input: ScheduleInterventionInput
    ) -> ScheduleInterventionPayload:
        return await _run(ScheduleInterventionPayload, _schedule(info.context.actor, input))

    @strawberry.mutation(description="Staff or the provider move a SCHEDULED visit.")
    async def reschedule_intervention(
        self, info: Info, input: RescheduleInterventionInput
    ) -> InterventionPayload:
        return await _run(InterventionPayload, _reschedule(info.context.actor, input))

    @strawberry.mutation(description="The provider or staff start a SCHEDULED visit.")
    async def start_intervention(
        self, info: Info, input: InterventionActionInput
    ) -> InterventionPayload:
        action = _transition(
            info.context.actor, input.intervention_id, InterventionStatus.IN_PROGRESS
        )
        return await _run(InterventionPayload, action)

    @strawberry.mutation(description="The provider or staff complete a visit IN_PROGRESS.")
    async def complete_intervention(
        self, info: Info, input: InterventionActionInput
    ) -> InterventionPayload:
        action = _transition(info.context.actor, input.intervention_id, InterventionStatus.DONE)
        return await _run(InterventionPayload, action)

    @strawberry.mutation(
        description="Cancel a visit with a reason: staff or the provider (SCHEDULED or "
        "IN_PROGRESS), the client (SCHEDULED only)."
    )
    async def cancel_intervention(
        self, info: Info, input: CancelInterventionInput
    ) -> InterventionPayload:
        action = _transition(
            info.context.actor, input.intervention_id, InterventionStatus.CANCELLED, input.reason
        )
        return await _run(InterventionPayload, action)


async def interventions_connection(
    info: Info, found: Page[InterventionModel]
) -> Connection[Intervention]:
    result = connection(found, Intervention.from_model)
    await Intervention.prime(info, [e.node for e in result.edges])
    return result


async def interventions_tab(
    info: Info, membership_id: int, *, starts_from: date | None = None, **page: Any
) -> Connection[Intervention]:
    actor = info.context.actor
    found = await use_cases.interventions_tab(actor, membership_id, starts_from=starts_from, **page)
    return await interventions_connection(info, found)


@strawberry.type
class InterventionQuery:
    @strawberry.field(
        description="The Interventions tab: staff see the marketplace's visits, a provider "
        "its own, a client its own. Newest first."
    )
    async def interventions(
        self,
        info: Info,
        status: Annotated[
            InterventionStatus | None, strawberry.argument(description="Only this.")
        ] = None,
        provider_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="Only this provider's (Membership)."),
        ] = None,
        request_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this request's.")
        ] = None,
        starts_from: Annotated[
            date | None, strawberry.argument(description="Starting on or after this day (UTC).")
        ] = None,
        starts_before: Annotated[
            date | None, strawberry.argument(description="Starting before this day (UTC).")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Intervention]:
        f = use_cases.InterventionFilter(
            status=status,
            membership_id=decode_id(provider_id, "Membership", field="providerId")
            if provider_id
            else None,
            request_id=decode_id(request_id, "ServiceRequest", field="requestId")
            if request_id
            else None,
            starts_from=starts_from,
            starts_before=starts_before,
        )
        found = await use_cases.list_interventions(
            info.context.actor, f, first=first, after=after, last=last, before=before
        )
        return await interventions_connection(info, found)
