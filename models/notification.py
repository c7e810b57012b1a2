"""What people are told (by e-mail and live), and which e-mails each of them wants."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import User


class NotificationKind(StrEnum):
    VISIT_SCHEDULED = "VISIT_SCHEDULED"  # client and provider
    VISIT_MOVED = "VISIT_MOVED"  # client and provider
    VISIT_CANCELLED = "VISIT_CANCELLED"  # client and provider
    SERVICE_ACCEPTED = "SERVICE_ACCEPTED"  # provider
    SERVICE_REJECTED = "SERVICE_REJECTED"  # provider
    APPLICATION_RECEIVED = "APPLICATION_RECEIVED"  # staff
    DOCUMENT_EXPIRING = "DOCUMENT_EXPIRING"  # provider, 30 days before
    DOCUMENT_EXPIRED = "DOCUMENT_EXPIRED"  # provider and staff
    UNREAD_MESSAGES = "UNREAD_MESSAGES"  # a participant, 10 minutes after an unread message


class Notification(Model):
    """One person told about one fact. Unique per fact and address: a retried job neither
    tells anyone twice nor e-mails twice (``emailed_at`` is set once the mail went out)."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=128)
    kind = fields.CharEnumField(NotificationKind, max_length=32)
    marketplace_id = fields.BigIntField(null=True)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    user_id: int | None
    email = fields.CharField(max_length=254)
    title = fields.CharField(max_length=300)
    body = fields.TextField(default="")
    object_type = fields.CharField(max_length=64)
    object_id = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    emailed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        unique_together = (("key", "email"),)
        indexes = (("user_id", "id"),)


class NotificationPreference(Model):
    """A user's choice for one kind; no row: e-mail on. Live notifications are always on."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notification_preferences", on_delete=fields.CASCADE
    )
    user_id: int
    kind = fields.CharEnumField(NotificationKind, max_length=32)
    email = fields.BooleanField(default=True)

    class Meta:
        table = "notification_preference"
        unique_together = (("user", "kind"),)
