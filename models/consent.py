"""Marketing consent of providers (GDPR): an append-only history and the state in force."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import Client, User
    from models.marketplace import Marketplace
    from models.membership import Membership


class ConsentChannel(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    PHONE = "PHONE"


class ConsentRecord(Model):
    """One grant or withdrawal, never updated nor deleted: the audit trail."""

    id = fields.BigIntField(primary_key=True)
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="consent_records", on_delete=fields.CASCADE
    )
    membership_id: int
    channel = fields.CharEnumField(ConsentChannel, max_length=8)
    granted = fields.BooleanField()
    wording_version = fields.CharField(max_length=64)
    source = fields.CharField(max_length=64)
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="consent_records", null=True, on_delete=fields.SET_NULL
    )
    actor_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "consent_record"
        indexes = (("membership_id", "id"),)


class ConsentState(Model):
    """The consent in force per membership and channel, written with each record."""

    # It answers who has consented now with one indexed query, without scanning the history.

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="consent_states", on_delete=fields.CASCADE
    )
    marketplace_id: int
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="consent_states", on_delete=fields.CASCADE
    )
    membership_id: int
    channel = fields.CharEnumField(ConsentChannel, max_length=8)
    granted = fields.BooleanField()
    record: fields.ForeignKeyRelation[ConsentRecord] = fields.ForeignKeyField(
        "models.ConsentRecord", related_name="states", on_delete=fields.CASCADE, db_index=True
    )
    record_id: int
    updated_at = fields.DatetimeField()

    class Meta:
        table = "consent_state"
        unique_together = (("membership", "channel"),)
        indexes = (("marketplace_id", "channel", "granted", "membership_id"),)


class ClientConsentRecord(Model):
    """One grant or withdrawal of a client's marketing consent, never updated: the audit trail.

    The consent in force on a channel is the channel's latest record."""

    id = fields.BigIntField(primary_key=True)
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="consent_records", on_delete=fields.CASCADE
    )
    client_id: int
    channel = fields.CharEnumField(ConsentChannel, max_length=8)
    granted = fields.BooleanField()
    wording_version = fields.CharField(max_length=64)
    source = fields.CharField(max_length=64)
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="client_consent_records", null=True, on_delete=fields.SET_NULL
    )
    actor_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "client_consent_record"
        indexes = (("client_id", "channel", "id"),)
