"""Interventions: the scheduled work of a provider for a client."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import Client
    from models.catalog import Service
    from models.dispatch import ServiceRequest
    from models.marketplace import Marketplace
    from models.membership import Membership


class InterventionStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class Intervention(Model):
    """One visit of a provider for a client. The commission rate in force is frozen on it."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="interventions", on_delete=fields.CASCADE
    )
    marketplace_id: int
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="interventions", on_delete=fields.RESTRICT
    )
    membership_id: int
    request: fields.ForeignKeyNullableRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest",
        related_name="interventions",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    request_id: int | None
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="interventions", on_delete=fields.RESTRICT
    )
    client_id: int
    service: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="interventions", on_delete=fields.RESTRICT, db_index=True
    )
    service_id: int
    status = fields.CharEnumField(InterventionStatus, max_length=16, db_index=True)
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField()
    price = fields.DecimalField(max_digits=10, decimal_places=2)
    commission_rate = fields.DecimalField(max_digits=5, decimal_places=2)
    cancel_reason = fields.TextField(default="")
    # Recurring requests produce a series: the same series_key, occurrence 1..n.
    series_key = fields.CharField(max_length=36, default="", db_index=True)
    occurrence = fields.IntField(default=1)
    started_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "intervention"
        indexes = (
            ("membership_id", "status", "starts_at"),
            ("client_id", "starts_at"),
            ("marketplace_id", "id"),
        )
