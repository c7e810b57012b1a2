"""The platform directory of referenced providers, and inviting them in one call."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry import relay

from resolvers import directory
from resolvers.actor import Actor
from schema.base import After, Before, Connection, First, Last, connection, decode_id
from schema.context import Info
from schema.invitation import Invitation, InvitationError, partial
from schema.membership.types import ProviderCompany


@strawberry.input(description="Invite providers of the platform directory.")
class InviteReferencedProvidersInput:
    company_ids: list[relay.GlobalID] = strawberry.field(
        description="1 to 100 ProviderCompany IDs from `providerDirectory`."
    )


@strawberry.type(description="Result of inviteReferencedProviders (partial success possible).")
class InviteReferencedProvidersPayload:
    user_errors: list[InvitationError] = strawberry.field(description="Refused companies.")
    invitations: list[Invitation] = strawberry.field(
        default_factory=list, description="Invitations created and being e-mailed."
    )


async def _invite_referenced(actor: Actor, data: InviteReferencedProvidersInput) -> Any:
    ids = [decode_id(gid, "ProviderCompany", field="companyIds") for gid in data.company_ids]
    return await directory.invite_referenced_providers(actor, company_ids=ids)


@strawberry.type
class DirectoryMutation:
    @strawberry.mutation(
        description="Staff: invite companies of the platform directory; they accept from their "
        "account (`myInvitations`, `acceptInvitation`) without signing up again."
    )
    async def invite_referenced_providers(
        self, info: Info, input: InviteReferencedProvidersInput
    ) -> InviteReferencedProvidersPayload:
        return await partial(  # type: ignore[no-any-return]
            InviteReferencedProvidersPayload, _invite_referenced(info.context.actor, input)
        )


@strawberry.type
class DirectoryQuery:
    @strawberry.field(
        description="Staff: referenced providers (companies that opted into the platform "
        "directory), by name, by a Service of this marketplace (matched by name across "
        "marketplaces) and by a postal code their action zone covers."
    )
    async def provider_directory(
        self,
        info: Info,
        name: Annotated[str | None, strawberry.argument(description="Part of the name.")] = None,
        service_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="A Service of the acting marketplace."),
        ] = None,
        postal_code: Annotated[
            str | None, strawberry.argument(description="A French postal code (5 digits).")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ProviderCompany]:
        page = await directory.provider_directory(
            info.context.actor,
            name=name,
            service_id=decode_id(service_id, "Service", field="serviceId") if service_id else None,
            postal_code=postal_code,
            first=first,
            after=after,
            last=last,
            before=before,
        )
        return connection(page, ProviderCompany.from_model)
