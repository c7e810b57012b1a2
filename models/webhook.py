"""Webhooks: a marketplace's endpoints and the delivery of each event to each of them."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import User
    from models.marketplace import Marketplace


class WebhookEndpointStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


class WebhookDisabledReason(StrEnum):
    BY_ADMIN = "BY_ADMIN"
    FAILING = "FAILING"


class WebhookDeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class WebhookEndpoint(Model):
    """A URL that receives a marketplace's events, signed with the endpoint's secret.

    The secret is sealed under the server secret. ``fanned_out_to`` is the last event id
    turned into deliveries for it."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    marketplace_id: int
    url = fields.CharField(max_length=2048)
    description = fields.CharField(max_length=500, default="")
    # The topics it receives; null: every topic.
    topics: list[str] | None = fields.JSONField(null=True)
    ordered = fields.BooleanField(default=False)
    status = fields.CharEnumField(
        WebhookEndpointStatus, max_length=16, default=WebhookEndpointStatus.ACTIVE
    )
    disabled_reason = fields.CharEnumField(WebhookDisabledReason, max_length=16, null=True)
    disabled_at = fields.DatetimeField(null=True)
    sealed_secret = fields.CharField(max_length=255)
    # After a rotation the previous secret also signs, until then (receivers switch over).
    previous_sealed_secret = fields.CharField(max_length=255, null=True)
    previous_secret_expires_at = fields.DatetimeField(null=True)
    fanned_out_to = fields.BigIntField(default=0)
    failing_since = fields.DatetimeField(null=True)
    last_success_at = fields.DatetimeField(null=True)
    # One sender at a time per endpoint (order, and one connection): it holds the lease.
    lease_owner = fields.CharField(max_length=32, null=True)
    lease_until = fields.DatetimeField(null=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="webhook_endpoints", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_endpoint"
        indexes = (("marketplace_id", "status"),)


class WebhookDelivery(Model):
    """One event for one endpoint, sent until the receiver answers 2xx or the window closes.

    Created once per endpoint and event. ``message_id`` is the ``webhook-id`` header, the same
    on every attempt."""

    id = fields.BigIntField(primary_key=True)
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    endpoint_id: int
    event_id = fields.BigIntField()
    message_id = fields.CharField(max_length=40, unique=True)
    topic = fields.CharField(max_length=64)
    object_type = fields.CharField(max_length=64)
    object_id = fields.BigIntField()
    # The body exactly as signed and sent, the same on every attempt.
    body = fields.TextField()
    status = fields.CharEnumField(
        WebhookDeliveryStatus, max_length=16, default=WebhookDeliveryStatus.PENDING
    )
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    give_up_at = fields.DatetimeField()
    last_attempt_at = fields.DatetimeField(null=True)
    last_response_status = fields.IntField(null=True)
    last_error = fields.CharField(max_length=500, default="")
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_delivery"
        unique_together = (("endpoint_id", "event_id"),)
        indexes = (("endpoint_id", "status", "id"), ("status", "next_attempt_at"))
