"""Versions of a marketplace's terms of use and who accepted which version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import User
    from models.document import Document
    from models.marketplace import Marketplace
    from models.membership import Membership


class TermsVersion(Model):
    """One published version of a marketplace's terms of use, numbered from 1."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="terms_versions", on_delete=fields.CASCADE
    )
    marketplace_id: int
    number = fields.IntField()
    text = fields.TextField(default="")
    document: fields.ForeignKeyNullableRelation[Document] = fields.ForeignKeyField(
        "models.Document",
        related_name="terms_versions",
        null=True,
        on_delete=fields.RESTRICT,
        db_index=True,
    )
    document_id: int | None
    published_at = fields.DatetimeField()
    published_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="published_terms", null=True, on_delete=fields.SET_NULL
    )
    published_by_id: int | None

    class Meta:
        table = "terms_version"
        unique_together = (("marketplace", "number"),)


class TermsAcceptance(Model):
    """Append-only record: which user accepted which version for a membership, and when."""

    id = fields.BigIntField(primary_key=True)
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership",
        related_name="terms_acceptances",
        on_delete=fields.CASCADE,
        db_index=True,
    )
    membership_id: int
    version: fields.ForeignKeyRelation[TermsVersion] = fields.ForeignKeyField(
        "models.TermsVersion", related_name="acceptances", on_delete=fields.CASCADE, db_index=True
    )
    version_id: int
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User",
        related_name="terms_acceptances",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    user_id: int | None
    accepted_at = fields.DatetimeField()

    class Meta:
        table = "terms_acceptance"
