"""Public applications: the page of a marketplace's public link, and applying through it."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers import application
from resolvers import invitation as invitation_cases
from resolvers import public_application as use_cases
from resolvers.actor import Actor
from schema.base import run_mutation
from schema.context import Info
from schema.document import Document, DocumentType
from schema.invitation import CompanyInput, InvitationError
from schema.membership.types import Membership
from schema.terms import TermsOfUse


@strawberry.type(description="What a marketplace's public application link shows.")
class PublicApplication:
    marketplace_name: str = strawberry.field(description="The marketplace.")
    marketplace_slug: str = strawberry.field(
        description="Its short name, to send as `X-Marketplace` once a member."
    )
    terms_of_use: TermsOfUse | None = strawberry.field(
        description="The current terms of use to accept; null when none are published."
    )
    internal_documents: list[Document] = strawberry.field(
        description="The marketplace's guides and charters."
    )
    required_document_types: list[DocumentType] = strawberry.field(
        description="The documents an application needs."
    )

    @classmethod
    def from_preview(cls, p: use_cases.PublicApplicationPreview) -> PublicApplication:
        return cls(
            marketplace_name=p.marketplace.name,
            marketplace_slug=p.marketplace.slug,
            terms_of_use=TermsOfUse.from_model(p.terms, public_link=True) if p.terms else None,
            internal_documents=[
                Document.from_model(d, public_link=True) for d in p.internal_documents
            ],
            required_document_types=[DocumentType.from_model(t) for t in p.required_types],
        )


@strawberry.input(description="Apply to a marketplace through its public link.")
class ApplyToMarketplaceInput:
    token: str = strawberry.field(description="The `marketplace` token of the public link.")
    company: CompanyInput | None = strawberry.field(
        default=None,
        description="The company to create, when the account has none yet (else ignored).",
    )


@strawberry.type(description="Result of applyToMarketplace.")
class ApplyToMarketplacePayload:
    user_errors: list[InvitationError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(
        default=None,
        description="The new INVITED membership, as with an invitation: accept the terms, "
        "file documents, then `submitApplication` (send the marketplace's slug as "
        "`X-Marketplace`).",
    )


async def _apply(actor: Actor, data: ApplyToMarketplaceInput) -> dict[str, Any]:
    company = data.company
    membership = await use_cases.apply_to_marketplace(
        actor,
        token=data.token,
        company=application.CompanyData(
            name=company.name,
            siret=company.siret,
            email=company.email,
            phone=company.phone,
            listed_in_directory=company.listed_in_directory,
        )
        if company is not None
        else None,
    )
    return {"membership": Membership.from_model(membership)}


@strawberry.type
class PublicApplicationMutation:
    @strawberry.mutation(
        description="Logged-in user: apply without an invitation through a marketplace's "
        "public link (while it allows public applications). Creates the company when the "
        "account has none, and its membership in the marketplace, INVITED."
    )
    async def apply_to_marketplace(
        self, info: Info, input: ApplyToMarketplaceInput
    ) -> ApplyToMarketplacePayload:
        return await run_mutation(
            ApplyToMarketplacePayload,
            InvitationError,
            invitation_cases.InvitationErrorCode,
            _apply(info.context.actor, input),
        )


@strawberry.type
class PublicApplicationQuery:
    @strawberry.field(
        description="Anyone holding a public application link: the marketplace, its terms and "
        "the documents to provide. Null when the link does not work (unknown, replaced, or "
        "public applications off)."
    )
    async def public_application(
        self,
        token: Annotated[
            str, strawberry.argument(description="The `marketplace` token of the link.")
        ],
    ) -> PublicApplication | None:
        preview = await use_cases.preview_public_application(token)
        return PublicApplication.from_preview(preview) if preview is not None else None
