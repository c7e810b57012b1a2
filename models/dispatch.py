"""Client requests and their dispatch to providers."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import Client
    from models.catalog import Service
    from models.marketplace import Marketplace


class RequestStatus(StrEnum):
    OPEN = "OPEN"
    PROPOSAL_SENT = "PROPOSAL_SENT"
    ACCEPTED = "ACCEPTED"
    CANCELLED = "CANCELLED"
    UNMATCHED = "UNMATCHED"
    EXPIRED = "EXPIRED"


class ServiceRequest(Model):
    """A client's request for a service at an address."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="requests", on_delete=fields.CASCADE
    )
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="requests", on_delete=fields.CASCADE
    )
    service: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="requests", on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(RequestStatus, max_length=16, db_index=True)
    postal_code = fields.CharField(max_length=5, db_index=True)
    city = fields.CharField(max_length=100)
    address_line = fields.CharField(max_length=255, default="")
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    description = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "service_request"
