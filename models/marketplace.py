"""A marketplace (tenant) and its dispatch settings."""

from __future__ import annotations

from decimal import Decimal

from tortoise import fields
from tortoise.models import Model


class Marketplace(Model):
    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200)
    slug = fields.CharField(max_length=64, unique=True)
    dispatch_enabled = fields.BooleanField(default=True)
    proposals_required = fields.IntField(default=3)
    days_before_sending = fields.IntField(default=3)
    days_before_reminder = fields.IntField(default=2)
    max_reminder_rounds = fields.IntField(default=3)
    default_commission_rate = fields.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("15.00")
    )
    direct_messages_allowed = fields.BooleanField(default=True)
    # Days a provider may keep receiving requests after new terms are published, unaccepted.
    terms_grace_days = fields.IntField(default=30)
    # IANA name: the days and hours its e-mails show are in this zone.
    time_zone = fields.CharField(max_length=64, default="Europe/Paris")
    public_applications_enabled = fields.BooleanField(default=False)
    # The token of the public application link; a new one retires the old link.
    public_application_token = fields.CharField(max_length=64, null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "marketplace"
