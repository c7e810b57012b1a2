"""Demo data for documents: required types, terms of use, an internal guide."""

from __future__ import annotations

from datetime import date
from typing import Any

from fpdf import FPDF

from models.account import StaffRole
from models.document import Document, DocumentKind, DocumentType, RequiredDocumentType
from models.membership import ProviderCompany
from presta import clock, storage
from resolvers.actor import Actor
from resolvers.document import ensure_document_types
from resolvers.document_upload import UploadedFile, document_fields
from resolvers.terms import add_internal_document, publish_terms_of_use

REQUIRED = ("KBIS", "RC_PRO", "URSSAF", "RIB")
TERMS = (
    "Conditions générales d'utilisation de Ménage Plus (version de démonstration).\n"
    "1. Le prestataire réalise les interventions acceptées avec soin.\n"
    "2. La commission de la plateforme est prélevée sur chaque intervention terminée."
)


def demo_pdf(title: str, body: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, body.encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


async def file_company_document(
    company: ProviderCompany, code: str, *, expires_on: date | None = None
) -> Document:
    """For other demo modules: a company document of the catalogue type ``code``."""
    doc_type = await DocumentType.get(code=code)
    data = demo_pdf(doc_type.label, f"{company.name}: {doc_type.label} (demo).")
    stored = storage.save(data, storage.PDF)
    return await Document.create(
        kind=DocumentKind.COMPANY,
        company=company,
        document_type=doc_type,
        title=doc_type.label,
        valid_from=clock.now().date(),
        expires_on=expires_on,
        **document_fields(stored, f"{code.lower()}.pdf"),
    )


async def load(ctx: dict[str, Any]) -> list[str]:
    await ensure_document_types()
    marketplace = ctx["marketplace"]
    admin = Actor(
        user_id=ctx["admin"].id,
        marketplace_id=marketplace.id,
        staff_role=StaffRole.ADMIN,
    )
    for code in REQUIRED:
        await RequiredDocumentType.create(
            marketplace=marketplace, document_type=await DocumentType.get(code=code)
        )
    terms = await publish_terms_of_use(admin, text=TERMS)
    guide = demo_pdf(
        "Guide du prestataire",
        "Bienvenue chez Ménage Plus. Ce guide explique comment répondre aux demandes.",
    )
    await add_internal_document(
        admin, title="Guide du prestataire", upload=UploadedFile(data=guide, filename="guide.pdf")
    )
    ctx["terms_version"] = terms.number
    ctx["required_document_codes"] = REQUIRED
    ctx["file_company_document"] = file_company_document
    return [
        f"documents: menage-plus requires {', '.join(REQUIRED)}; terms v{terms.number} and a "
        "provider guide are published"
    ]
