"""GDPR: marketing consent per channel with its history, and the provider's data export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from models.consent import ConsentChannel
from models.consent import ConsentRecord as ConsentRecordModel
from models.consent import ConsentState as ConsentStateModel
from resolvers import consent as use_cases
from resolvers.actor import Actor
from resolvers.export import export_my_data
from schema.base import (
    After,
    Before,
    Connection,
    First,
    Last,
    UserErrorBase,
    connection,
    decode_id,
    encode_id,
    run_mutation,
)
from schema.context import Info
from schema.membership.types import Membership
from schema.node import AuthorizedNode

strawberry.enum(use_cases.ConsentErrorCode, description="Why a consent operation failed.")
strawberry.enum(ConsentChannel, description="A channel of marketing communications.")


@strawberry.type(description="A failure of a consent operation.")
class ConsentError(UserErrorBase):
    code: use_cases.ConsentErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="One grant or withdrawal of marketing consent (never changed).")
class ConsentRecord(AuthorizedNode):
    id: relay.NodeID[int]
    membership_id: relay.GlobalID = strawberry.field(description="The provider's membership.")
    channel: ConsentChannel = strawberry.field(description="The channel it is about.")
    granted: bool = strawberry.field(description="True: consent given; false: withdrawn.")
    wording_version: str = strawberry.field(description="Version of the wording shown.")
    source: str = strawberry.field(description="Where it was collected (form, app, call...).")
    recorded_by: str | None = strawberry.field(
        description="E-mail of the user who recorded it; null for an API key."
    )
    created_at: datetime = strawberry.field(description="When it was recorded.")

    @classmethod
    def from_model(cls, r: ConsentRecordModel) -> ConsentRecord:
        return cls(
            id=r.id,
            membership_id=encode_id("Membership", r.membership_id),
            channel=r.channel,
            granted=r.granted,
            wording_version=r.wording_version,
            source=r.source,
            recorded_by=r.actor.email if r.actor is not None else None,
            created_at=r.created_at,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        records = await use_cases.visible_consent_records(actor, ids)
        return {r.id: cls.from_model(r) for r in records}


@strawberry.type(description="The marketing consent in force on one channel.")
class ConsentStatus:
    channel: ConsentChannel = strawberry.field(description="The channel.")
    granted: bool = strawberry.field(description="Marketing may be sent on this channel now.")
    wording_version: str = strawberry.field(description="Wording of the last grant/withdrawal.")
    since: datetime = strawberry.field(description="When it was last granted or withdrawn.")

    @classmethod
    def from_model(cls, s: ConsentStateModel) -> ConsentStatus:
        return cls(
            channel=s.channel,
            granted=s.granted,
            wording_version=s.record.wording_version,
            since=s.updated_at,
        )


async def consent_tab(actor: Actor, membership_id: int) -> list[ConsentStatus]:
    states = await use_cases.current_consent(actor, membership_id=membership_id)
    return [ConsentStatus.from_model(s) for s in states]


@strawberry.input(description="Grant or withdraw marketing consent on one channel.")
class SetMarketingConsentInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider's membership.")
    channel: ConsentChannel = strawberry.field(description="EMAIL, SMS or PHONE.")
    granted: bool = strawberry.field(description="True to grant, false to withdraw.")
    wording_version: str = strawberry.field(
        description="Version of the consent wording shown (1 to 64 characters)."
    )
    source: str = strawberry.field(
        description="Where it was collected, e.g. `signup-form`, `mobile-settings`, "
        "`phone-call` (1 to 64 characters)."
    )


@strawberry.type(description="Result of setMarketingConsent.")
class SetMarketingConsentPayload:
    user_errors: list[ConsentError] = strawberry.field(description="Expected failures.")
    record: ConsentRecord | None = strawberry.field(default=None, description="What was recorded.")
    consent: list[ConsentStatus] = strawberry.field(
        default_factory=list, description="The consent now in force on every channel set."
    )


async def _set(actor: Actor, data: SetMarketingConsentInput) -> dict[str, Any]:
    membership_id = decode_id(data.membership_id, "Membership", field="membershipId")
    record = await use_cases.set_marketing_consent(
        actor,
        membership_id=membership_id,
        channel=data.channel,
        granted=data.granted,
        wording_version=data.wording_version,
        source=data.source,
    )
    states = await use_cases.current_consent(actor, membership_id=membership_id)
    return {
        "record": ConsentRecord.from_model(record),
        "consent": [ConsentStatus.from_model(s) for s in states],
    }


@strawberry.type
class ConsentMutation:
    @strawberry.mutation(
        description="Provider (its own file) or staff: grant or withdraw marketing consent; "
        "the history keeps every change."
    )
    async def set_marketing_consent(
        self, info: Info, input: SetMarketingConsentInput
    ) -> SetMarketingConsentPayload:
        return await run_mutation(
            SetMarketingConsentPayload,
            ConsentError,
            use_cases.ConsentErrorCode,
            _set(info.context.actor, input),
        )


MembershipArg = Annotated[
    relay.GlobalID, strawberry.argument(description="The provider's membership.")
]


@strawberry.type
class ConsentQuery:
    @strawberry.field(
        description="Every grant and withdrawal of a membership, newest first "
        "(the provider itself and staff)."
    )
    async def consent_history(
        self,
        info: Info,
        membership_id: MembershipArg,
        channel: Annotated[
            ConsentChannel | None, strawberry.argument(description="Only this channel.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ConsentRecord]:
        page = await use_cases.consent_history(
            info.context.actor,
            membership_id=decode_id(membership_id, "Membership", field="membershipId"),
            channel=channel,
            first=first,
            after=after,
            last=last,
            before=before,
        )
        return connection(page, ConsentRecord.from_model)

    @strawberry.field(description="The consent in force on each channel ever set.")
    async def marketing_consent(
        self, info: Info, membership_id: MembershipArg
    ) -> list[ConsentStatus]:
        return await consent_tab(
            info.context.actor, decode_id(membership_id, "Membership", field="membershipId")
        )

    @strawberry.field(
        description="Staff: the providers who accept marketing on a channel right now."
    )
    async def consented_memberships(
        self,
        info: Info,
        channel: Annotated[ConsentChannel, strawberry.argument(description="The channel.")],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Membership]:
        page = await use_cases.consented_memberships(
            info.context.actor, channel=channel, first=first, after=after, last=last, before=before
        )
        return connection(page, Membership.from_model)

    @strawberry.field(
        description="Provider user: everything the platform holds about its company (GDPR "
        "portability) as one JSON document: company, action zone, documents metadata and, per "
        "marketplace, services, consents, conversations and messages, requests and "
        "interventions."
    )
    async def export_my_data(self, info: Info) -> JSON:
        return JSON(await export_my_data(info.context.actor))
