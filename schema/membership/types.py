"""The provider relationship: a provider company's file in one marketplace (membership).

The types; the root queries are in ``schema.membership.queries``, the live feed in
``schema.membership.subscriptions``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from models.membership import Membership as MembershipModel
from models.membership import MembershipAudit as MembershipAuditModel
from models.membership import MembershipStatus
from models.membership import ProviderCompany as ProviderCompanyModel
from presta import clock
from resolvers import membership as use_cases
from resolvers.actor import Actor
from resolvers.document import DocumentState
from schema import document as _documents  # noqa: F401  (registers DocumentState first)
from schema.base import (
    After,
    Connection,
    First,
    Mutations,
    UserErrorBase,
    decode_id,
    encode_id,
)
from schema.commission import CommissionRate
from schema.context import Info
from schema.loaders import (
    AuditByMembershipLoader,
    CommissionHistoryByMembershipLoader,
    CommissionRateLoader,
    ConsentByMembershipLoader,
    DocumentStateByMembershipLoader,
    MembershipServicesLoader,
    TermsToAcceptLoader,
    loader,
)
from schema.node import AuthorizedNode

if TYPE_CHECKING:
    from schema.catalog import MembershipService
    from schema.consent import ConsentStatus
    from schema.dispatch.types import ServiceRequest
    from schema.intervention import Intervention
    from schema.messaging.types import Conversation
    from schema.zone import ActionZone

strawberry.enum(
    MembershipStatus,
    description="Where the relationship stands: INVITED, APPLIED, ACCEPTED, REFUSED, "
    "SUSPENDED, DEACTIVATED or DELETED.",
)
strawberry.enum(use_cases.MembershipErrorCode, description="Why a membership operation failed.")
strawberry.enum(
    use_cases.DocumentExpiry,
    description="Providers with a company document that EXPIRED (its latest one of a type ended) "
    "or is EXPIRING_SOON (ends within 30 days).",
)


@strawberry.type(description="A failure of an operation on a provider's membership.")
class MembershipError(UserErrorBase):
    code: use_cases.MembershipErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="A provider company: the business behind a provider's accounts.")
class ProviderCompany:
    id: relay.GlobalID = strawberry.field(description="Global ID of the company.")
    name: str = strawberry.field(description="Trade name.")
    siret: str = strawberry.field(description="French SIRET number (14 digits), or empty.")
    email: str = strawberry.field(description="Contact e-mail of the company, or empty.")
    phone: str = strawberry.field(description="Contact phone of the company, or empty.")
    listed_in_directory: bool = strawberry.field(
        description="Listed in the platform directory, where other marketplaces may invite it."
    )

    @classmethod
    def from_model(cls, c: ProviderCompanyModel) -> ProviderCompany:
        return cls(
            id=encode_id("ProviderCompany", c.id),
            name=c.name,
            siret=c.siret,
            email=c.email,
            phone=c.phone,
            listed_in_directory=c.listed_in_directory,
        )


@strawberry.type(description="One status change of a provider's membership.")
class MembershipAuditEntry:
    from_status: MembershipStatus | None = strawberry.field(
        description="Status before the change; null when the relationship began."
    )
    to_status: MembershipStatus = strawberry.field(description="Status after the change.")
    reason: str = strawberry.field(description="Reason given, or empty.")
    actor_name: str | None = strawberry.field(
        description="Name (or e-mail) of who made the change; null for the system."
    )
    at: datetime = strawberry.field(description="When it happened.")

    @classmethod
    def from_model(cls, a: MembershipAuditModel) -> MembershipAuditEntry:
        return cls(
            from_status=a.from_status,
            to_status=a.to_status,
            reason=a.reason,
            actor_name=(a.actor.full_name or a.actor.email) if a.actor else None,
            at=a.created_at,
        )


@strawberry.type(
    description="A provider's file in one marketplace: the relationship between the "
    "marketplace and one provider company, with its status and tabs."
)
class Membership(AuthorizedNode):
    id: relay.NodeID[int]
    status: MembershipStatus = strawberry.field(description="Where the relationship stands.")
    company: ProviderCompany = strawberry.field(description="The provider company.")
    marketplace_id: relay.GlobalID = strawberry.field(description="The marketplace.")
    marketplace_name: str = strawberry.field(description="Name of the marketplace.")
    terms_version_accepted: int | None = strawberry.field(
        description="Version of the marketplace's terms of use last accepted, if any."
    )
    applied_at: datetime | None = strawberry.field(
        description="When the application was submitted."
    )
    decided_at: datetime | None = strawberry.field(
        description="When staff accepted or refused the application."
    )
    created_at: datetime = strawberry.field(description="When the relationship began.")
    # The row behind this object, for the fields other domains add to the provider's file.
    model: strawberry.Private[MembershipModel]

    @strawberry.field(
        description="The marketplace published terms of use newer than those last accepted: "
        "the provider must accept the current version."
    )
    async def must_accept_terms(self, info: Info) -> bool:
        found: bool = await loader(info, TermsToAcceptLoader).load(self.model)
        return found

    @strawberry.field(
        description="Staff: every status change (who, when, from, to, reason), oldest first. "
        "Null for providers."
    )
    async def audit_entries(self, info: Info) -> list[MembershipAuditEntry] | None:
        entries = await loader(info, AuditByMembershipLoader).load(self.model)
        return None if entries is None else [MembershipAuditEntry.from_model(a) for a in entries]

    @strawberry.field(
        description="The commission rate (percent) in force for a service on a day: the "
        "provider's rate for that service, else its general rate, else the marketplace default."
    )
    async def commission_rate(
        self,
        info: Info,
        service_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="The service (Service); omit for the general rate."),
        ] = None,
        on: Annotated[
            date | None, strawberry.argument(description="The day; today when omitted.")
        ] = None,
    ) -> Decimal:
        service = decode_id(service_id, "Service", field="serviceId") if service_id else None
        asked = (self.model, service, on or _today())
        return await loader(info, CommissionRateLoader).load(asked)

    @strawberry.field(description="Every rate set for this provider, the latest first.")
    async def commission_history(self, info: Info) -> list[CommissionRate]:
        rates = await loader(info, CommissionHistoryByMembershipLoader).load(self.model.id)
        return [CommissionRate.from_model(r) for r in rates]

    @strawberry.field(
        description="The Services tab: every service of the catalogue with this provider's "
        "status (null when it never applied)."
    )
    async def services(
        self, info: Info
    ) -> list[Annotated[MembershipService, strawberry.lazy("schema.catalog")]]:
        from schema.catalog import service_lines

        rows = await loader(info, MembershipServicesLoader).load(self.model)
        return service_lines(rows)

    @strawberry.field(
        description="The worst state of the company documents the marketplace requires: "
        "MISSING, EXPIRED, EXPIRING_SOON, else VALID. For staff and the provider; null for "
        "others."
    )
    async def document_state(self, info: Info) -> DocumentState | None:
        state: DocumentState | None = await loader(info, DocumentStateByMembershipLoader).load(
            self.model
        )
        return state

    @strawberry.field(
        description="The Action zone tab: the provider's zone, this marketplace's restriction "
        "and the effective zone."
    )
    async def action_zone(
        self, info: Info
    ) -> Annotated[ActionZone, strawberry.lazy("schema.zone")]:
        from schema.zone import zone_tab

        return await zone_tab(info.context.actor, self.model.id)

    @strawberry.field(
        description="The Requests tab: every request sent to this provider, whatever its "
        "status, newest first."
    )
    async def requests(
        self,
        info: Info,
        first: First = None,
        after: After = None,
    ) -> Connection[Annotated[ServiceRequest, strawberry.lazy("schema.dispatch.types")]]:
        from schema.dispatch.queries import requests_tab

        return await requests_tab(info, self.model.id, first=first, after=after)

    @strawberry.field(
        description="The Interventions tab: this provider's visits for the marketplace's "
        "clients, newest first."
    )
    async def interventions(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        starts_from: Annotated[
            date | None,
            strawberry.argument(description="Only visits starting on or after this day (UTC)."),
        ] = None,
    ) -> Connection[Annotated[Intervention, strawberry.lazy("schema.intervention")]]:
        from schema.intervention import interventions_tab

        return await interventions_tab(
            info, self.model.id, first=first, after=after, starts_from=starts_from
        )

    @strawberry.field(
        description="The Messaging tab: this provider's conversations (with staff and with "
        "clients), newest first."
    )
    async def conversations(
        self,
        info: Info,
        first: First = None,
        after: After = None,
    ) -> Connection[Annotated[Conversation, strawberry.lazy("schema.messaging.types")]]:
        from schema.messaging.types import conversations_of

        return await conversations_of(info, membership_id=self.model.id, first=first, after=after)

    @strawberry.field(description="The GDPR tab: marketing consent in force on each channel.")
    async def consent(
        self, info: Info
    ) -> list[Annotated[ConsentStatus, strawberry.lazy("schema.consent")]]:
        from schema.consent import ConsentStatus

        states = await loader(info, ConsentByMembershipLoader).load(self.model)
        return [ConsentStatus.from_model(s) for s in states]

    @classmethod
    def from_model(cls, m: MembershipModel) -> Membership:
        return cls(
            id=m.id,
            status=m.status,
            company=ProviderCompany.from_model(m.company),
            marketplace_id=encode_id("Marketplace", m.marketplace_id),
            marketplace_name=m.marketplace.name,
            terms_version_accepted=m.terms_version_accepted,
            applied_at=m.applied_at,
            decided_at=m.decided_at,
            created_at=m.created_at,
            model=m,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {m.id: cls.from_model(m) for m in await use_cases.visible_memberships(actor, ids)}


def _today() -> date:
    return clock.now().date()


run = Mutations(MembershipError, use_cases.MembershipErrorCode)
