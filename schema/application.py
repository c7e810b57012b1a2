"""Applications: a provider submits its file, staff accept or refuse it."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay

from resolvers import application as use_cases
from resolvers.actor import Actor
from schema.base import decode_id
from schema.context import Info
from schema.membership.types import Membership, MembershipError, run


@strawberry.input(description="Apply to the marketplace (an INVITED membership).")
class SubmitApplicationInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider's Membership.")


@strawberry.type(
    description="Result of submitApplication. When something is missing, one "
    "APPLICATION_INCOMPLETE error per missing item: field `terms` (accept the current terms) "
    "or `documents` (a required document type, named in the message)."
)
class SubmitApplicationPayload:
    user_errors: list[MembershipError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(default=None, description="Now APPLIED.")


@strawberry.input(description="Accept an APPLIED provider.")
class AcceptApplicationInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider (Membership).")
    reason: str = strawberry.field(default="", description="Optional note for the audit trail.")


@strawberry.type(description="Result of acceptApplication.")
class AcceptApplicationPayload:
    user_errors: list[MembershipError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(default=None, description="Now ACCEPTED.")


@strawberry.input(description="Refuse an APPLIED provider, telling it why.")
class RefuseApplicationInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider (Membership).")
    reason: str = strawberry.field(description="Why; e-mailed to the provider (required).")


@strawberry.type(description="Result of refuseApplication.")
class RefuseApplicationPayload:
    user_errors: list[MembershipError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(default=None, description="Now REFUSED.")


def _membership_id(data: Any) -> int:
    return decode_id(data.membership_id, "Membership", field="membershipId")


async def _submit(actor: Actor, data: SubmitApplicationInput) -> dict[str, Any]:
    m = await use_cases.submit_application(actor, membership_id=_membership_id(data))
    return {"membership": Membership.from_model(m)}


async def _accept(actor: Actor, data: AcceptApplicationInput) -> dict[str, Any]:
    m = await use_cases.accept_application(
        actor, membership_id=_membership_id(data), reason=data.reason
    )
    return {"membership": Membership.from_model(m)}


async def _refuse(actor: Actor, data: RefuseApplicationInput) -> dict[str, Any]:
    m = await use_cases.refuse_application(
        actor, membership_id=_membership_id(data), reason=data.reason
    )
    return {"membership": Membership.from_model(m)}


@strawberry.type
class ApplicationMutation:
    @strawberry.mutation(
        description="Provider user: INVITED → APPLIED, once the current terms are accepted and "
        "every required document is filed and valid."
    )
    async def submit_application(
        self, info: Info, input: SubmitApplicationInput
    ) -> SubmitApplicationPayload:
        return await run(SubmitApplicationPayload, _submit(info.context.actor, input))

    @strawberry.mutation(description="Staff: APPLIED → ACCEPTED; the provider is told by e-mail.")
    async def accept_application(
        self, info: Info, input: AcceptApplicationInput
    ) -> AcceptApplicationPayload:
        return await run(AcceptApplicationPayload, _accept(info.context.actor, input))

    @strawberry.mutation(
        description="Staff: APPLIED → REFUSED with a reason, e-mailed to the provider."
    )
    async def refuse_application(
        self, info: Info, input: RefuseApplicationInput
    ) -> RefuseApplicationPayload:
        return await run(RefuseApplicationPayload, _refuse(info.context.actor, input))
