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


# A rate asked of a provider's file: (membership, service or None for the general rate, day).
RateAsked = tuple[Membership, int | None, date]


async def rate_in_force(membership_id: int, service_id: int | None, on: date) -> Decimal:
    """Provider+service rate over provider rate over the marketplace default, as of ``on``."""
    membership = await Membership.get(id=membership_id).select_related("marketplace")
    rates = await CommissionRate.filter(
        membership_id=membership_id, effective_from__lte=on
    ).order_by("-effective_from", "-id")
    return _in_force(rates, service_id, on, membership.marketplace.default_commission_rate)


async def rates_in_force(asked: list[RateAsked]) -> dict[tuple[int, int | None, date], Decimal]:
    """``rate_in_force`` for several files at once, keyed by (membership id, service, day):
    two statements whatever the number asked (the rates up to the latest day, the defaults)."""
    if not asked:
        return {}
    members = padded(sorted({m.id for m, _, _ in asked}))
    latest = max(on for _, _, on in asked)
    rates: dict[int, list[CommissionRate]] = defaultdict(list)
    found = CommissionRate.filter(membership_id__in=members, effective_from__lte=latest)
    for rate in await found.order_by("-effective_from", "-id"):
        rates[rate.membership_id].append(rate)
    marketplaces = sorted({m.marketplace_id for m, _, _ in asked})
    defaults = dict(
        await Marketplace.filter(id__in=marketplaces).values_list("id", "default_commission_rate")
    )
    return {
        (m.id, service_id, on): _in_force(rates[m.id], service_id, on, defaults[m.marketplace_id])
        for m, service_id, on in asked
    }


def _in_force(
    rates: list[CommissionRate], service_id: int | None, on: date, default: Decimal
) -> Decimal:
    """The first of ``rates`` (latest first) in force on ``on``: the service's own, else the
    general one, else the marketplace default."""
    due = [r for r in rates if r.effective_from <= on]
    if service_id is not None:
        for rate in due:
            if rate.service_id == service_id:
                return rate.rate
    for rate in due:
        if rate.service_id is None:
            return rate.rate
    return default


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
