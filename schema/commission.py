"""Commissions: provider-specific rates over the marketplace default."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry import relay

from models.commission import CommissionRate as CommissionRateModel
from resolvers import commission as use_cases
from resolvers.actor import Actor
from schema.base import UserErrorBase, decode_id, encode_id, run_mutation
from schema.context import Info

strawberry.enum(use_cases.CommissionErrorCode, description="Why a commission operation failed.")


@strawberry.type(description="A failure of a commission operation.")
class CommissionError(UserErrorBase):
    code: use_cases.CommissionErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(
    description="A commission rate set for one provider, optionally for one service, in force "
    "from a date until a later rate of the same scope takes over."
)
class CommissionRate:
    id: relay.GlobalID = strawberry.field(description="Global ID of this rate entry.")
    rate: Decimal = strawberry.field(description="Percent of the intervention price, 0 to 100.")
    service_id: relay.GlobalID | None = strawberry.field(
        description="The service (Service) it applies to; null: every service of the provider."
    )
    effective_from: date = strawberry.field(description="First day the rate applies.")
    created_at: datetime = strawberry.field(description="When staff set it.")

    @classmethod
    def from_model(cls, r: CommissionRateModel) -> CommissionRate:
        service_id = r.service_id
        return cls(
            id=encode_id("CommissionRate", r.id),
            rate=r.rate,
            service_id=encode_id("Service", service_id) if service_id else None,
            effective_from=r.effective_from,
            created_at=r.created_at,
        )


@strawberry.input(description="Customise a provider's commission rate from a date on.")
class SetProviderCommissionInput:
    membership_id: relay.GlobalID = strawberry.field(description="The provider (Membership).")
    rate: Decimal = strawberry.field(description="Percent of the intervention price, 0 to 100.")
    effective_from: date = strawberry.field(description="First day the rate applies.")
    service_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only for this service (Service); omit for every service."
    )


@strawberry.type(description="Result of setProviderCommission.")
class SetProviderCommissionPayload:
    user_errors: list[CommissionError] = strawberry.field(description="Expected failures.")
    commission_rate: CommissionRate | None = strawberry.field(
        default=None, description="The rate entry added to the provider's history."
    )


async def _set(actor: Actor, data: SetProviderCommissionInput) -> dict[str, Any]:
    rate = await use_cases.set_provider_commission(
        actor,
        membership_id=decode_id(data.membership_id, "Membership", field="membershipId"),
        rate=data.rate,
        effective_from=data.effective_from,
        service_id=decode_id(data.service_id, "Service", field="serviceId")
        if data.service_id is not None
        else None,
    )
    return {"commission_rate": CommissionRate.from_model(rate)}


@strawberry.type
class CommissionMutation:
    @strawberry.mutation(
        description="Staff: set a provider's commission rate, optionally for one service, "
        "effective from a date. Earlier rates stay in the history."
    )
    async def set_provider_commission(
        self, info: Info, input: SetProviderCommissionInput
    ) -> SetProviderCommissionPayload:
        return await run_mutation(
            SetProviderCommissionPayload,
            CommissionError,
            use_cases.CommissionErrorCode,
            _set(info.context.actor, input),
        )
