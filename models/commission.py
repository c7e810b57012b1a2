"""Provider-specific commission rates, effective from a date; the history is kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import User
    from models.catalog import Service
    from models.marketplace import Marketplace
    from models.membership import Membership


class CommissionRate(Model):
    """A rate (percent) for one provider, optionally for one service, from a date on."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace",
        related_name="commission_rates",
        on_delete=fields.CASCADE,
        db_index=True,
    )
    marketplace_id: int
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="commission_rates", on_delete=fields.CASCADE
    )
    membership_id: int
    service: fields.ForeignKeyNullableRelation[Service] = fields.ForeignKeyField(
        "models.Service",
        related_name="commission_rates",
        null=True,
        on_delete=fields.CASCADE,
        db_index=True,
    )
    service_id: int | None
    rate = fields.DecimalField(max_digits=5, decimal_places=2)
    effective_from = fields.DateField()
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="commission_rates_set", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "commission_rate"
        indexes = (("membership_id", "service_id", "effective_from"),)
