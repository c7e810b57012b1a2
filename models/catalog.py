"""A marketplace's service catalogue and the services each provider applied for."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.marketplace import Marketplace
    from models.membership import Membership


class ProviderServiceStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    DEACTIVATED = "DEACTIVATED"


class Service(Model):
    """A service of a marketplace catalogue. Archived services take no new requests."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="services", on_delete=fields.CASCADE, db_index=True
    )
    marketplace_id: int
    name = fields.CharField(max_length=200)
    category = fields.CharField(max_length=100, default="")
    description = fields.TextField(default="")
    archived_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "service"


class ProviderService(Model):
    """A provider's application for one service of the marketplace, and its status."""

    id = fields.BigIntField(primary_key=True)
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="services", on_delete=fields.CASCADE
    )
    membership_id: int
    service: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="providers", on_delete=fields.CASCADE
    )
    service_id: int
    status = fields.CharEnumField(ProviderServiceStatus, max_length=16)
    reason = fields.TextField(default="")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "provider_service"
        unique_together = (("membership", "service"),)
        indexes = (("service_id", "status"),)
