"""Demo data for languages and document review: an English-speaking provider, and a company
document rejected by staff (the provider's e-mail lands in var/mail/, in French)."""

from __future__ import annotations

from typing import Any

from models.account import User
from models.document import Document, DocumentKind
from resolvers.account import actor_for_user
from resolvers.document_review import approve_document, reject_document


async def load(ctx: dict[str, Any]) -> list[str]:
    marketplace = ctx["marketplace"]
    english = await User.get_or_none(email="eclat@provider.demo")
    if english is not None:
        english.locale = "en"
        await english.save(update_fields=["locale"])
    nette = await User.get_or_none(email="nette@provider.demo")
    if nette is None or nette.provider_company_id is None:
        return []
    staff = await actor_for_user(ctx["admin"], marketplace.id)
    documents = {
        t.code: d
        for d in await Document.filter(
            company_id=nette.provider_company_id, kind=DocumentKind.COMPANY
        ).select_related("document_type")
        if (t := d.document_type) is not None
    }
    await approve_document(staff, document_id=documents["KBIS"].id)
    urssaf = documents["URSSAF"]
    await reject_document(
        staff,
        document_id=urssaf.id,
        reason="L'attestation de vigilance a plus de 6 mois : déposez-en une récente.",
    )
    return [
        "languages: everyone reads French unless they chose otherwise (updateProfile(input: "
        "{locale: EN})); eclat@provider.demo reads English; userErrors follow the caller",
        "documents: menage-plus rejected the URSSAF document of nette@provider.demo (see "
        "membershipDocuments and the providers screen's documentState: REJECTED; the French "
        "e-mail is in var/mail/); try approveDocument / rejectDocument as staff",
    ]
