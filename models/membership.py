"""Provider companies and their relationship (membership) with each marketplace."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import User
    from models.marketplace import Marketplace


class MembershipStatus(StrEnum):
    INVITED = "INVITED"
    APPLIED = "APPLIED"
    ACCEPTED = "ACCEPTED"
    REFUSED = "REFUSED"
    SUSPENDED = "SUSPENDED"
    DEACTIVATED = "DEACTIVATED"
    DELETED = "DELETED"


class ProviderCompany(Model):
    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200)
    siret = fields.CharField(max_length=14, default="")
    email = fields.CharField(max_length=254, default="")
    phone = fields.CharField(max_length=32, default="")
    listed_in_directory = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "provider_company"


class Membership(Model):
    """The relationship between one marketplace and one provider company."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="memberships", on_delete=fields.CASCADE
    )
    marketplace_id: int
    company: fields.ForeignKeyRelation[ProviderCompany] = fields.ForeignKeyField(
        "models.ProviderCompany",
        related_name="memberships",
        on_delete=fields.CASCADE,
        db_index=True,
    )
    company_id: int
    status = fields.CharEnumField(MembershipStatus, max_length=16, db_index=True)
    terms_version_accepted = fields.IntField(null=True)
    # The terms version whose grace period's end the provider was told about (once each).
    terms_overdue_notified = fields.IntField(null=True)
    applied_at = fields.DatetimeField(null=True)
    decided_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "membership"
        unique_together = (("marketplace", "company"),)


class MembershipAudit(Model):
    """Append-only trail of status changes: who, when, from, to, why."""

    id = fields.BigIntField(primary_key=True)
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="audit", on_delete=fields.CASCADE, db_index=True
    )
    membership_id: int
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="membership_audits", null=True, on_delete=fields.SET_NULL
    )
    actor_id: int | None
    from_status = fields.CharEnumField(MembershipStatus, max_length=16, null=True)
    to_status = fields.CharEnumField(MembershipStatus, max_length=16)
    reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "membership_audit"


class ColleagueInvitation(Model):
    """A provider user invites a colleague to the company account; single use, expires."""

    id = fields.BigIntField(primary_key=True)
    company: fields.ForeignKeyRelation[ProviderCompany] = fields.ForeignKeyField(
        "models.ProviderCompany",
        related_name="colleague_invitations",
        on_delete=fields.CASCADE,
        db_index=True,
    )
    company_id: int
    email = fields.CharField(max_length=254)
    token_hash = fields.CharField(max_length=64, unique=True)
    # Random per invitation: the token is an HMAC of it, so the mail job can rebuild the link.
    token_nonce = fields.CharField(max_length=64)
    invited_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="colleague_invitations", null=True, on_delete=fields.SET_NULL
    )
    invited_by_id: int | None
    expires_at = fields.DatetimeField()
    accepted_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User",
        related_name="accepted_colleague_invitations",
        null=True,
        on_delete=fields.SET_NULL,
    )
    accepted_by_id: int | None
    accepted_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "colleague_invitation"
