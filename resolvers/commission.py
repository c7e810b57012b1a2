"""Commission rates: the marketplace default, customised per provider and per service."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from models.catalog import Service
from models.commission import CommissionRate
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus
from presta.db import padded
from presta.i18n import _
from presta.statements import where_in
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.errors import UserError, not_found

MAX_RATE = Decimal("100")


class CommissionErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    RATE_OUT_OF_RANGE = "RATE_OUT_OF_RANGE"


async def rate_in_force(membership_id: int, service_id: int | None, on: date) -> Decimal:
    """Provider+service rate over provider rate over the marketplace default, as of ``on``."""
    membership = await Membership.get(id=membership_id).select_related("marketplace")
    rates = await CommissionRate.filter(
        membership_id=membership_id, effective_from__lte=on
    ).order_by("-effective_from", "-id")
    if service_id is not None:
        for rate in rates:
            if rate.service_id == service_id:
                return rate.rate
    for rate in rates:
        if rate.service_id is None:
            return rate.rate
    return membership.marketplace.default_commission_rate


async def set_provider_commission(
    actor: Actor,
    *,
    membership_id: int,
    rate: Decimal,
    effective_from: date,
    service_id: int | None = None,
) -> CommissionRate:
    """Staff set a provider's rate (0-100 %), optionally for one service, from a date on."""
    marketplace_id = actor.require_staff()
    try:
        quantized = rate.quantize(Decimal("0.01"))
    except InvalidOperation:
        quantized = Decimal("-1")
    if not rate.is_finite() or not Decimal(0) <= quantized <= MAX_RATE:
        raise UserError(
            CommissionErrorCode.RATE_OUT_OF_RANGE,
            _("The rate is a percentage between 0 and 100."),
            field="rate",
        )
    async with atomic():
        membership = (
            await Membership.filter(id=membership_id, marketplace_id=marketplace_id)
            .exclude(status=MembershipStatus.DELETED)
            .first()
        )
        if membership is None:
            raise not_found(_("Membership"), field="membershipId")
        if (
            service_id is not None
            and not await Service.filter(id=service_id, marketplace_id=marketplace_id).exists()
        ):
            raise not_found(_("Service"), field="serviceId")
        return await CommissionRate.create(
            marketplace_id=marketplace_id,
            membership=membership,
            service_id=service_id,
            rate=quantized,
            effective_from=effective_from,
            created_by_id=actor.user_id,
        )


async def rate_histories(
    actor: Actor, membership_ids: list[int]
) -> dict[int, list[CommissionRate]]:
    """Every rate ever set for each provider of files the actor may read, the latest first."""
    grouped: dict[int, list[CommissionRate]] = defaultdict(list)
    order = ("-effective_from", "-id")
    for r in await where_in(CommissionRate, "membership_id", padded(membership_ids), order=order):
        grouped[r.membership_id].append(r)
    return grouped


async def default_rate(marketplace_id: int) -> Decimal:
    marketplace = await Marketplace.get(id=marketplace_id)
    return marketplace.default_commission_rate
