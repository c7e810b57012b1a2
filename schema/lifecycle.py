"""Lifecycle of a provider's membership: suspend, reinstate, deactivate, reactivate, delete."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay

from resolvers import lifecycle as use_cases
from resolvers.actor import Actor
from schema.base import decode_id
from schema.context import Info
from schema.membership.types import Membership, MembershipError, run


@strawberry.input(description="Suspend an ACCEPTED provider.")
class SuspendProviderInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider (Membership).")
    reason: str = strawberry.field(default="", description="Why; shown in the audit trail.")


@strawberry.input(description="Reinstate a SUSPENDED provider.")
class ReinstateProviderInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider (Membership).")
    reason: str = strawberry.field(default="", description="Why; shown in the audit trail.")


@strawberry.input(description="Deactivate an ACCEPTED or SUSPENDED provider.")
class DeactivateProviderInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider (Membership).")
    reason: str = strawberry.field(default="", description="Why; shown in the audit trail.")


@strawberry.input(description="Bring a DEACTIVATED provider back to ACCEPTED.")
class ReactivateProviderInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider (Membership).")
    reason: str = strawberry.field(default="", description="Why; shown in the audit trail.")


@strawberry.input(description="End the relationship with a provider (kept for audit).")
class DeleteProviderRelationshipInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider (Membership).")
    reason: str = strawberry.field(default="", description="Why; shown in the audit trail.")


@strawberry.type(description="Result of suspendProvider.")
class SuspendProviderPayload:
    user_errors: list[MembershipError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(default=None, description="As it now is.")


@strawberry.type(description="Result of reinstateProvider.")
class ReinstateProviderPayload:
    user_errors: list[MembershipError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(default=None, description="As it now is.")


@strawberry.type(description="Result of deactivateProvider.")
class DeactivateProviderPayload:
    user_errors: list[MembershipError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(default=None, description="As it now is.")


@strawberry.type(description="Result of reactivateProvider.")
class ReactivateProviderPayload:
    user_errors: list[MembershipError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(default=None, description="As it now is.")


@strawberry.type(description="Result of deleteProviderRelationship.")
class DeleteProviderRelationshipPayload:
    user_errors: list[MembershipError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(default=None, description="As it now is.")


async def _apply(use_case: Any, actor: Actor, data: Any) -> dict[str, Any]:
    membership_id = decode_id(data.membership_id, "Membership", field="membershipId")
    changed = await use_case(actor, membership_id=membership_id, reason=data.reason)
    return {"membership": Membership.from_model(changed)}


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation(description="Staff: ACCEPTED → SUSPENDED (no new requests).")
    async def suspend_provider(
        self, info: Info, input: SuspendProviderInput
    ) -> SuspendProviderPayload:
        return await run(
            SuspendProviderPayload, _apply(use_cases.suspend_provider, info.context.actor, input)
        )

    @strawberry.mutation(description="Staff: SUSPENDED → ACCEPTED.")
    async def reinstate_provider(
        self, info: Info, input: ReinstateProviderInput
    ) -> ReinstateProviderPayload:
        return await run(
            ReinstateProviderPayload,
            _apply(use_cases.reinstate_provider, info.context.actor, input),
        )

    @strawberry.mutation(
        description="Staff: ACCEPTED or SUSPENDED → DEACTIVATED; refused (INTERVENTIONS_PENDING, "
        "naming them) while an intervention is scheduled or in progress here."
    )
    async def deactivate_provider(
        self, info: Info, input: DeactivateProviderInput
    ) -> DeactivateProviderPayload:
        return await run(
            DeactivateProviderPayload,
            _apply(use_cases.deactivate_provider, info.context.actor, input),
        )

    @strawberry.mutation(description="Staff: DEACTIVATED → ACCEPTED.")
    async def reactivate_provider(
        self, info: Info, input: ReactivateProviderInput
    ) -> ReactivateProviderPayload:
        return await run(
            ReactivateProviderPayload,
            _apply(use_cases.reactivate_provider, info.context.actor, input),
        )

    @strawberry.mutation(
        description="Staff: any state → DELETED (history kept); refused (INTERVENTIONS_PENDING, "
        "naming them) while an intervention is scheduled or in progress here."
    )
    async def delete_provider_relationship(
        self, info: Info, input: DeleteProviderRelationshipInput
    ) -> DeleteProviderRelationshipPayload:
        return await run(
            DeleteProviderRelationshipPayload,
            _apply(use_cases.delete_provider_relationship, info.context.actor, input),
        )
