"""Users, their credentials, and the roles they hold in marketplaces."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.marketplace import Marketplace
    from models.membership import ProviderCompany


class StaffRole(StrEnum):
    ADMIN = "ADMIN"
    AGENT = "AGENT"


class ApiScope(StrEnum):
    READ = "READ"
    READ_WRITE = "READ_WRITE"


class User(Model):
    id = fields.BigIntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    full_name = fields.CharField(max_length=200, default="")
    is_platform_admin = fields.BooleanField(default=False)
    is_active = fields.BooleanField(default=True)
    # "fr" or "en", as the user chose; null: not chosen (the marketplace default, French).
    locale = fields.CharField(max_length=5, null=True)
    provider_company: fields.ForeignKeyNullableRelation[ProviderCompany] = fields.ForeignKeyField(
        "models.ProviderCompany",
        related_name="users",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    provider_company_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "account_user"


class RefreshToken(Model):
    """One refresh token of a rotation family. Reusing a rotated one revokes the family."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="refresh_tokens", on_delete=fields.CASCADE, db_index=True
    )
    user_id: int
    family = fields.UUIDField(db_index=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    rotated_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "account_refresh_token"


class ApiKey(Model):
    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="api_keys", on_delete=fields.CASCADE, db_index=True
    )
    marketplace_id: int
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=16, unique=True)
    secret_hash = fields.CharField(max_length=64)
    scope = fields.CharEnumField(ApiScope, max_length=16)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="api_keys", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "account_api_key"


class StaffMember(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="staff_roles", on_delete=fields.CASCADE
    )
    user_id: int
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="staff", on_delete=fields.CASCADE, db_index=True
    )
    marketplace_id: int
    role = fields.CharEnumField(StaffRole, max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "account_staff_member"
        unique_together = (("user", "marketplace"),)


class Client(Model):
    """An end customer of one marketplace (optionally with a login)."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="clients", on_delete=fields.CASCADE
    )
    marketplace_id: int
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="client_of", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    user_id: int | None
    full_name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=254)
    phone = fields.CharField(max_length=32, default="")
    # A staff-created client sets its password through a single-use link; only a hash of the
    # token is stored, the nonce lets a job rebuild the link.
    invitation_nonce = fields.CharField(max_length=64, null=True)
    invitation_hash = fields.CharField(max_length=64, null=True, unique=True)
    invitation_expires_at = fields.DatetimeField(null=True)
    invitation_sent_count = fields.IntField(default=0)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="created_clients", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    # Set by erasure (GDPR): the row stays for the marketplace's accounting, anonymised.
    erased_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "account_client"
        unique_together = (("marketplace", "email"),)
        indexes = (("marketplace_id", "id"),)
