from __future__ import annotations

import itertools
from datetime import date

from tortoise.transactions import in_transaction

from models.catalog import ProviderService, ProviderServiceStatus, Service
from models.document import Document, DocumentKind, DocumentType, RequiredDocumentType
from models.marketplace import Marketplace
from models.membership import Membership
from resolvers.zone import Area, Circle, replace_zone

_seq = itertools.count(1)


async def make_service(marketplace: Marketplace, *, name: str | None = None, **kw) -> Service:
    n = next(_seq)
    return await Service.create(
        marketplace=marketplace, name=name or f"Service {n}", category=kw.pop("category", ""), **kw
    )


async def offer(
    membership: Membership,
    service: Service,
    status: ProviderServiceStatus = ProviderServiceStatus.ACCEPTED,
) -> ProviderService:
    return await ProviderService.create(membership=membership, service=service, status=status)


async def give_zone(
    membership: Membership,
    *,
    postal_codes: tuple[str, ...] = (),
    prefixes: tuple[str, ...] = (),
    circles: tuple[tuple[float, float, float], ...] = (),
) -> None:
    """Write the company zone directly (tests of matching, not of validation)."""
    async with in_transaction():
        await replace_zone(
            company_id=membership.company_id,
            membership_id=None,
            area=Area(
                postal_codes=postal_codes,
                prefixes=prefixes,
                circles=tuple(Circle(*c) for c in circles),
            ),
        )


async def require_document(marketplace: Marketplace, code: str | None = None) -> DocumentType:
    n = next(_seq)
    doc_type = await DocumentType.create(code=code or f"doc-{n}", label=f"Document {n}")
    await RequiredDocumentType.create(marketplace=marketplace, document_type=doc_type)
    return doc_type


async def upload(
    membership: Membership, doc_type: DocumentType, *, expires_on: date | None = None
) -> Document:
    n = next(_seq)
    return await Document.create(
        kind=DocumentKind.COMPANY,
        company_id=membership.company_id,
        document_type=doc_type,
        filename=f"doc{n}.pdf",
        content_type="application/pdf",
        size=1,
        sha256="0" * 64,
        storage_key=f"test-{n}-{doc_type.id}",
        expires_on=expires_on,
    )
