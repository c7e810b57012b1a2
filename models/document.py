"""Document types, the documents a marketplace requires, and stored files."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import User
    from models.marketplace import Marketplace
    from models.membership import Membership, ProviderCompany


class DocumentKind(StrEnum):
    COMPANY = "COMPANY"  # uploaded by a provider for its company (registration, insurance...)
    CONTRACT = "CONTRACT"  # uploaded by staff for one membership
    INVOICE = "INVOICE"  # commission invoices built by the monthly job
    INTERNAL = "INTERNAL"  # a marketplace's internal documents (guide, charter)
    TERMS = "TERMS"  # a version of a marketplace's terms of use
    ATTACHMENT = "ATTACHMENT"  # attached to a message


class DocumentType(Model):
    """A kind of company document, from the platform catalogue."""

    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    label = fields.CharField(max_length=200)
    expires = fields.BooleanField(default=False)
    validity_days = fields.IntField(null=True)

    class Meta:
        table = "document_type"


class RequiredDocumentType(Model):
    """A document type that applicants of a marketplace must provide."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="required_document_types", on_delete=fields.CASCADE
    )
    marketplace_id: int
    document_type: fields.ForeignKeyRelation[DocumentType] = fields.ForeignKeyField(
        "models.DocumentType", related_name="required_by", on_delete=fields.CASCADE, db_index=True
    )
    document_type_id: int

    class Meta:
        table = "required_document_type"
        unique_together = (("marketplace", "document_type"),)


class Document(Model):
    """A stored file. A company document is valid while today is before expires_on."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(DocumentKind, max_length=16, db_index=True)
    company: fields.ForeignKeyNullableRelation[ProviderCompany] = fields.ForeignKeyField(
        "models.ProviderCompany", related_name="documents", null=True, on_delete=fields.CASCADE
    )
    company_id: int | None
    marketplace: fields.ForeignKeyNullableRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace",
        related_name="documents",
        null=True,
        on_delete=fields.CASCADE,
        db_index=True,
    )
    marketplace_id: int | None
    membership: fields.ForeignKeyNullableRelation[Membership] = fields.ForeignKeyField(
        "models.Membership",
        related_name="documents",
        null=True,
        on_delete=fields.CASCADE,
        db_index=True,
    )
    membership_id: int | None
    document_type: fields.ForeignKeyNullableRelation[DocumentType] = fields.ForeignKeyField(
        "models.DocumentType",
        related_name="documents",
        null=True,
        on_delete=fields.RESTRICT,
        db_index=True,
    )
    document_type_id: int | None
    title = fields.CharField(max_length=200, default="")
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=64)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    storage_key = fields.CharField(max_length=128, unique=True)
    valid_from = fields.DateField(null=True)
    expires_on = fields.DateField(null=True, db_index=True)
    uploaded_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="uploaded_documents", null=True, on_delete=fields.SET_NULL
    )
    uploaded_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "document"
        indexes = (("company_id", "document_type_id"),)


class DocumentReviewStatus(StrEnum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class DocumentReview(Model):
    """A marketplace staff's latest decision on a company document, for that marketplace."""

    id = fields.BigIntField(primary_key=True)
    document: fields.ForeignKeyRelation[Document] = fields.ForeignKeyField(
        "models.Document", related_name="reviews", on_delete=fields.CASCADE
    )
    document_id: int
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace",
        related_name="document_reviews",
        on_delete=fields.CASCADE,
        db_index=True,
    )
    marketplace_id: int
    status = fields.CharEnumField(DocumentReviewStatus, max_length=16)
    reason = fields.TextField(default="")
    reviewed_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="document_reviews", null=True, on_delete=fields.SET_NULL
    )
    reviewed_by_id: int | None
    reviewed_at = fields.DatetimeField()

    class Meta:
        table = "document_review"
        unique_together = (("document", "marketplace"),)


class InvoiceCounter(Model):
    """Last commission-invoice number used by a marketplace. Locked while numbering."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.OneToOneRelation[Marketplace] = fields.OneToOneField(
        "models.Marketplace", related_name="invoice_counter", on_delete=fields.CASCADE
    )
    marketplace_id: int
    last_number = fields.IntField(default=0)

    class Meta:
        table = "invoice_counter"


class CommissionInvoice(Model):
    """The commission a provider owes a marketplace for one month, filed as an INVOICE document."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="commission_invoices", on_delete=fields.CASCADE
    )
    marketplace_id: int
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="commission_invoices", on_delete=fields.CASCADE
    )
    membership_id: int
    year = fields.IntField()
    month = fields.IntField()
    number = fields.IntField()
    document: fields.OneToOneRelation[Document] = fields.OneToOneField(
        "models.Document", related_name="commission_invoice", on_delete=fields.RESTRICT
    )
    document_id: int
    interventions = fields.IntField()
    total_price = fields.DecimalField(max_digits=12, decimal_places=2)
    total_commission = fields.DecimalField(max_digits=12, decimal_places=2)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "commission_invoice"
        unique_together = (("membership", "year", "month"), ("marketplace", "number"))
