"""The service catalogue and the services of each provider (the Services tab)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry import relay

from models.catalog import ProviderService as ProviderServiceModel
from models.catalog import ProviderServiceStatus
from models.catalog import Service as ServiceModel
from resolvers import catalog as use_cases
from resolvers.actor import Actor
from resolvers.errors import UserError
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
from schema.context import Info
from schema.node import AuthorizedNode

P = TypeVar("P")

strawberry.enum(use_cases.CatalogErrorCode, description="Why a catalogue operation failed.")
strawberry.enum(
    ProviderServiceStatus,
    description="A provider's status for one service: PENDING (applied), ACCEPTED (matched "
    "for requests), REJECTED, DEACTIVATED.",
)


@strawberry.type(description="A failure of a catalogue operation.")
class CatalogError(UserErrorBase):
    code: use_cases.CatalogErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="A service of the marketplace's catalogue.")
class Service(AuthorizedNode):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Display name.")
    category: str = strawberry.field(description="Free category label, or empty.")
    description: str = strawberry.field(description="Description shown to clients and providers.")
    archived_at: datetime | None = strawberry.field(
        description="When it was archived; archived services take no new requests."
    )
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_model(cls, s: ServiceModel) -> Service:
        return cls(
            id=s.id,
            name=s.name,
            category=s.category,
            description=s.description,
            archived_at=s.archived_at,
            created_at=s.created_at,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        found = await use_cases.visible_services(actor, ids)
        return {i: cls.from_model(s) for i, s in found.items()}


@strawberry.type(description="A provider's application for one service, and its status.")
class ProviderService(AuthorizedNode):
    id: relay.NodeID[int]
    status: ProviderServiceStatus = strawberry.field(description="Where the application stands.")
    reason: str = strawberry.field(description="Why it was rejected or deactivated, or empty.")
    updated_at: datetime = strawberry.field(description="Last status change.")
    membership_id: relay.GlobalID = strawberry.field(description="The provider's membership.")
    service_id: relay.GlobalID = strawberry.field(description="The service (Service).")

    @classmethod
    def from_model(cls, r: ProviderServiceModel) -> ProviderService:
        return cls(
            id=r.id,
            status=r.status,
            reason=r.reason,
            updated_at=r.updated_at,
            membership_id=encode_id("Membership", r.membership_id),
            service_id=encode_id("Service", r.service_id),
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        found = await use_cases.visible_provider_services(actor, ids)
        return {i: cls.from_model(r) for i, r in found.items()}


@strawberry.type(description="A line of a provider's Services tab.")
class MembershipService:
    service: Service = strawberry.field(description="A service of the catalogue.")
    status: ProviderServiceStatus | None = strawberry.field(
        description="This provider's status for it; null when it never applied."
    )
    provider_service: ProviderService | None = strawberry.field(
        description="The application, to accept, reject or deactivate; null when none."
    )


@strawberry.input(description="A new service of the acting marketplace's catalogue.")
class CreateServiceInput:
    name: str = strawberry.field(description="Display name, 1 to 200 characters.")
    category: str = strawberry.field(default="", description="Category label, up to 100.")
    description: str = strawberry.field(default="", description="Description, up to 5000.")


@strawberry.input(description="Change a service; omitted fields stay as they are.")
class UpdateServiceInput:
    service_id: relay.GlobalID = strawberry.field(description="The service (Service).")
    name: str | None = strawberry.field(default=None, description="New name.")
    category: str | None = strawberry.field(default=None, description="New category.")
    description: str | None = strawberry.field(default=None, description="New description.")


@strawberry.input(description="Archive a service: it takes no new requests or applications.")
class ArchiveServiceInput:
    service_id: relay.GlobalID = strawberry.field(description="The service (Service).")


@strawberry.input(description="The acting provider applies for a service.")
class ApplyForServiceInput:
    service_id: relay.GlobalID = strawberry.field(description="The service (Service).")


@strawberry.input(description="Accept a provider for a service (pending or deactivated).")
class AcceptProviderServiceInput:
    provider_service_id: relay.GlobalID = strawberry.field(
        description="The application (ProviderService)."
    )


@strawberry.input(description="Reject a provider's pending application for a service.")
class RejectProviderServiceInput:
    provider_service_id: relay.GlobalID = strawberry.field(
        description="The application (ProviderService)."
    )
    reason: str = strawberry.field(description="Why, shown to the provider (required).")


@strawberry.input(description="Stop matching an accepted provider for a service.")
class DeactivateProviderServiceInput:
    provider_service_id: relay.GlobalID = strawberry.field(
        description="The application (ProviderService)."
    )
    reason: str = strawberry.field(default="", description="Why, shown to the provider.")


@strawberry.type(description="Result of createService.")
class CreateServicePayload:
    user_errors: list[CatalogError] = strawberry.field(description="Expected failures.")
    service: Service | None = strawberry.field(default=None, description="The created service.")


@strawberry.type(description="Result of updateService.")
class UpdateServicePayload:
    user_errors: list[CatalogError] = strawberry.field(description="Expected failures.")
    service: Service | None = strawberry.field(default=None, description="The changed service.")


@strawberry.type(description="Result of archiveService.")
class ArchiveServicePayload:
    user_errors: list[CatalogError] = strawberry.field(description="Expected failures.")
    service: Service | None = strawberry.field(default=None, description="The archived service.")


@strawberry.type(description="Result of applyForService.")
class ApplyForServicePayload:
    user_errors: list[CatalogError] = strawberry.field(description="Expected failures.")
    provider_service: ProviderService | None = strawberry.field(
        default=None, description="The pending application."
    )


@strawberry.type(description="Result of acceptProviderService.")
class AcceptProviderServicePayload:
    user_errors: list[CatalogError] = strawberry.field(description="Expected failures.")
    provider_service: ProviderService | None = strawberry.field(
        default=None, description="The accepted application."
    )


@strawberry.type(description="Result of rejectProviderService.")
class RejectProviderServicePayload:
    user_errors: list[CatalogError] = strawberry.field(description="Expected failures.")
    provider_service: ProviderService | None = strawberry.field(
        default=None, description="The rejected application."
    )


@strawberry.type(description="Result of deactivateProviderService.")
class DeactivateProviderServicePayload:
    user_errors: list[CatalogError] = strawberry.field(description="Expected failures.")
    provider_service: ProviderService | None = strawberry.field(
        default=None, description="The deactivated application."
    )


async def _service(action: Any) -> dict[str, Any]:
    return {"service": Service.from_model(await action)}


async def _provider_service(action: Any) -> dict[str, Any]:
    return {"provider_service": ProviderService.from_model(await action)}


async def _decide(
    actor: Actor, gid: relay.GlobalID, to: ProviderServiceStatus, reason: str = ""
) -> dict[str, Any]:
    pid = decode_id(gid, "ProviderService", field="providerServiceId")
    return await _provider_service(
        use_cases.decide_provider_service(actor, pid, to=to, reason=reason)
    )


async def _update(actor: Actor, data: UpdateServiceInput) -> dict[str, Any]:
    sid = decode_id(data.service_id, "Service", field="serviceId")
    return await _service(
        use_cases.update_service(
            actor, sid, name=data.name, category=data.category, description=data.description
        )
    )


async def _archive(actor: Actor, gid: relay.GlobalID) -> dict[str, Any]:
    sid = decode_id(gid, "Service", field="serviceId")
    return await _service(use_cases.archive_service(actor, sid))


async def _apply(actor: Actor, gid: relay.GlobalID) -> dict[str, Any]:
    sid = decode_id(gid, "Service", field="serviceId")
    return await _provider_service(use_cases.apply_for_service(actor, sid))


_run = Mutations(CatalogError, use_cases.CatalogErrorCode)


S = ProviderServiceStatus


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(description="Staff: add a service to the catalogue.")
    async def create_service(self, info: Info, input: CreateServiceInput) -> CreateServicePayload:
        actor = info.context.actor
        return await _run(
            CreateServicePayload,
            _service(
                use_cases.create_service(
                    actor, name=input.name, category=input.category, description=input.description
                )
            ),
        )

    @strawberry.mutation(description="Staff: rename or describe a service.")
    async def update_service(self, info: Info, input: UpdateServiceInput) -> UpdateServicePayload:
        return await _run(UpdateServicePayload, _update(info.context.actor, input))

    @strawberry.mutation(description="Staff: archive a service (no new requests).")
    async def archive_service(
        self, info: Info, input: ArchiveServiceInput
    ) -> ArchiveServicePayload:
        return await _run(ArchiveServicePayload, _archive(info.context.actor, input.service_id))

    @strawberry.mutation(
        description="Provider: apply for a service (again after a rejection or deactivation)."
    )
    async def apply_for_service(
        self, info: Info, input: ApplyForServiceInput
    ) -> ApplyForServicePayload:
        return await _run(ApplyForServicePayload, _apply(info.context.actor, input.service_id))

    @strawberry.mutation(description="Staff: accept a pending or deactivated application.")
    async def accept_provider_service(
        self, info: Info, input: AcceptProviderServiceInput
    ) -> AcceptProviderServicePayload:
        return await _run(
            AcceptProviderServicePayload,
            _decide(info.context.actor, input.provider_service_id, S.ACCEPTED),
        )

    @strawberry.mutation(description="Staff: reject a pending application, with a reason.")
    async def reject_provider_service(
        self, info: Info, input: RejectProviderServiceInput
    ) -> RejectProviderServicePayload:
        return await _run(
            RejectProviderServicePayload,
            _decide(info.context.actor, input.provider_service_id, S.REJECTED, input.reason),
        )

    @strawberry.mutation(description="Staff: stop matching an accepted provider for a service.")
    async def deactivate_provider_service(
        self, info: Info, input: DeactivateProviderServiceInput
    ) -> DeactivateProviderServicePayload:
        return await _run(
            DeactivateProviderServicePayload,
            _decide(info.context.actor, input.provider_service_id, S.DEACTIVATED, input.reason),
        )


async def services_tab(actor: Actor, membership_id: int) -> list[MembershipService]:
    return service_lines(await use_cases.membership_services(actor, membership_id))


def service_lines(rows: list[use_cases.ServiceLine]) -> list[MembershipService]:
    return [
        MembershipService(
            service=Service.from_model(s),
            status=r.status if r else None,
            provider_service=ProviderService.from_model(r) if r else None,
        )
        for s, r in rows
    ]


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="The acting marketplace's catalogue, oldest first.")
    async def services(
        self,
        info: Info,
        include_archived: Annotated[
            bool, strawberry.argument(description="Also list archived services.")
        ] = False,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Service]:
        page = await use_cases.list_services(
            info.context.actor,
            include_archived=include_archived,
            first=first,
            after=after,
            last=last,
            before=before,
        )
        return connection(page, Service.from_model)

    @strawberry.field(
        description="The Services tab of a provider's file: every service of the catalogue "
        "with this provider's status. For staff and the provider; null when not visible."
    )
    async def membership_services(
        self,
        info: Info,
        membership_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The membership (Membership).")
        ],
    ) -> list[MembershipService] | None:
        try:
            mid = decode_id(membership_id, "Membership", field="membershipId")
            return await services_tab(info.context.actor, mid)
        except UserError:
            return None
