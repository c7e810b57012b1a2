"""The marketplace's providers for staff, with their counts; a provider user's own files."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from models.membership import MembershipStatus
from resolvers import membership as use_cases
from schema.base import After, Before, Connection, First, Last, connection, decode_id
from schema.context import Info
from schema.loaders import MembershipByIdLoader, loader
from schema.membership.types import Membership


@strawberry.type(description="How many providers the marketplace has in each status.")
class ProviderCounts:
    invited: int = strawberry.field(description="INVITED: joined through an invitation.")
    applied: int = strawberry.field(description="APPLIED: waiting for a decision.")
    accepted: int = strawberry.field(description="ACCEPTED: active providers.")
    refused: int = strawberry.field(description="REFUSED applications.")
    suspended: int = strawberry.field(description="SUSPENDED providers.")
    deactivated: int = strawberry.field(description="DEACTIVATED providers.")
    deleted: int = strawberry.field(description="DELETED relationships (kept for audit).")
    total: int = strawberry.field(description="Every status except DELETED.")


@strawberry.type
class MembershipQuery:
    @strawberry.field(
        description="Staff: the providers of the acting marketplace, newest first. DELETED "
        "relationships appear only when `status: DELETED` is asked for."
    )
    async def providers(
        self,
        info: Info,
        status: Annotated[
            MembershipStatus | None, strawberry.argument(description="Only this status.")
        ] = None,
        service_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="Only providers that applied for this Service."),
        ] = None,
        text: Annotated[
            str | None,
            strawberry.argument(description="Search in company name, e-mail and SIRET."),
        ] = None,
        document_expiry: Annotated[
            use_cases.DocumentExpiry | None,
            strawberry.argument(description="Only providers with documents in this state."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Membership]:
        page = await use_cases.list_providers(
            info.context.actor,
            status=status,
            service_id=decode_id(service_id, "Service", field="serviceId") if service_id else None,
            text=text,
            document_expiry=document_expiry,
            first=first,
            after=after,
            last=last,
            before=before,
        )
        return connection(page, Membership.from_model)

    @strawberry.field(description="Staff: how many providers are in each status.")
    async def provider_counts(self, info: Info) -> ProviderCounts:
        counts = await use_cases.provider_counts(info.context.actor)
        S = MembershipStatus
        return ProviderCounts(
            invited=counts[S.INVITED],
            applied=counts[S.APPLIED],
            accepted=counts[S.ACCEPTED],
            refused=counts[S.REFUSED],
            suspended=counts[S.SUSPENDED],
            deactivated=counts[S.DEACTIVATED],
            deleted=counts[S.DELETED],
            total=sum(n for s, n in counts.items() if s is not S.DELETED),
        )

    @strawberry.field(
        description="Provider user: its company's files, in the acting marketplace (or in "
        "every marketplace it belongs to when none is named)."
    )
    async def my_memberships(self, info: Info) -> list[Membership]:
        files = await use_cases.my_memberships(info.context.actor)
        # Read with their company and marketplace: what their visits and conversations ask.
        loader(info, MembershipByIdLoader).prime_many({m.id: m for m in files})
        return [Membership.from_model(m) for m in files]
