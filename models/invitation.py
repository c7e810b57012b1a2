"""Invitations of providers to a marketplace, by e-mail or from the directory."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import User
    from models.marketplace import Marketplace
    from models.membership import Membership, ProviderCompany


class InvitationStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


class Invitation(Model):
    """A single-use sign-up link sent to one address. Only a hash of its token is stored."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="invitations", on_delete=fields.CASCADE
    )
    marketplace_id: int
    email = fields.CharField(max_length=254)
    token_hash = fields.CharField(max_length=64, unique=True)
    # Random per invitation: the token is an HMAC of it, so a job can rebuild the link.
    token_nonce = fields.CharField(max_length=64)
    status = fields.CharEnumField(InvitationStatus, max_length=16, db_index=True)
    expires_at = fields.DatetimeField()
    company: fields.ForeignKeyNullableRelation[ProviderCompany] = fields.ForeignKeyField(
        "models.ProviderCompany",
        related_name="invitations",
        null=True,
        on_delete=fields.CASCADE,
        db_index=True,
    )
    company_id: int | None
    membership: fields.ForeignKeyNullableRelation[Membership] = fields.ForeignKeyField(
        "models.Membership",
        related_name="invitations",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    membership_id: int | None
    sent_count = fields.IntField(default=0)
    last_sent_at = fields.DatetimeField(null=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sent_invitations", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    accepted_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="accepted_invitations", null=True, on_delete=fields.SET_NULL
    )
    accepted_by_id: int | None
    accepted_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "invitation"
        indexes = (("marketplace_id", "email"),)
