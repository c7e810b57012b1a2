"""Public applications: providers apply uninvited through a marketplace's public link.

The link names the marketplace by a token staff can replace (``update_marketplace_settings``);
it works while the marketplace allows public applications. Applying gives the same INVITED
file as a used invitation, from which the provider applies (APPLIED) once its terms are
accepted and its documents uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.account import User
from models.document import Document, DocumentType
from models.marketplace import Marketplace
from models.membership import Membership
from models.terms import TermsVersion
from presta.i18n import _
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.application import CompanyData, clean_applicant_company, join_marketplace
from resolvers.document import required_types_of
from resolvers.errors import not_found
from resolvers.terms import current_terms, internal_documents_of


@dataclass(frozen=True, slots=True)
class PublicApplicationPreview:
    """What the public application page shows (no account needed)."""

    marketplace: Marketplace
    terms: TermsVersion | None
    internal_documents: list[Document]
    required_types: list[DocumentType]


async def _open_marketplace(token: str) -> Marketplace | None:
    token = token.strip()
    if not token or len(token) > 64:
        return None
    return await Marketplace.get_or_none(
        public_application_token=token, public_applications_enabled=True
    )


async def preview_public_application(token: str) -> PublicApplicationPreview | None:
    """The marketplace of a public link that works, with its terms and required documents."""
    marketplace = await _open_marketplace(token)
    if marketplace is None:
        return None
    return PublicApplicationPreview(
        marketplace,
        await current_terms(marketplace.id),
        await internal_documents_of(marketplace.id),
        await required_types_of(marketplace.id),
    )


async def apply_to_marketplace(
    actor: Actor, *, token: str, company: CompanyData | None = None
) -> Membership:
    """A signed-in user applies through a public link: its company (described here if it has
    none yet) gets an INVITED file in the marketplace, as with an invitation."""
    user_id = actor.require_user()
    cleaned = clean_applicant_company(company) if company is not None else None
    async with atomic() as tx:
        marketplace = await _open_marketplace(token)
        if marketplace is None:
            raise not_found(_("Public application link"), field="token")
        user = await User.filter(id=user_id).select_for_update().get()
        membership = await join_marketplace(
            tx,
            user,
            marketplace.id,
            cleaned,
            reason="Applied through the public link.",
            field="token",
        )
    return await Membership.get(id=membership.id).select_related("company", "marketplace")
