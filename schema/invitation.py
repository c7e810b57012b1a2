"""Invitations of providers, the sign-up page of a link, and the directory of providers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from models.invitation import Invitation as InvitationModel
from models.invitation import InvitationStatus
from resolvers import application
from resolvers import invitation as use_cases
from resolvers.actor import Actor
from schema.base import (
    After,
    Before,
    Connection,
    First,
    Last,
    Mutations,
    UserErrorBase,
    connection,
    decode_id,
    encode_id,
)
from schema.context import Info
from schema.document import Document, DocumentType
from schema.membership.types import Membership
from schema.node import AuthorizedNode
from schema.terms import TermsOfUse

strawberry.enum(use_cases.InvitationErrorCode, description="Why an invitation operation failed.")
strawberry.enum(
    InvitationStatus,
    description="PENDING (the link works), ACCEPTED (used), REVOKED by staff, or EXPIRED.",
)


@strawberry.type(description="A failure of an invitation operation.")
class InvitationError(UserErrorBase):
    code: use_cases.InvitationErrorCode = strawberry.field(description="Machine-readable reason.")
    email: str | None = strawberry.field(
        default=None, description="The address this error is about (inviteProviders)."
    )
    company_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The company this error is about (inviteReferencedProviders)."
    )


@strawberry.type(description="An invitation to join a marketplace as a provider.")
class Invitation(AuthorizedNode):
    id: relay.NodeID[int]
    email: str = strawberry.field(description="Address the sign-up link was sent to.")
    status: InvitationStatus = strawberry.field(description="Whether the link still works.")
    expires_at: datetime = strawberry.field(description="When the link stops working.")
    sent_count: int = strawberry.field(description="How many times it was sent.")
    last_sent_at: datetime | None = strawberry.field(description="When it was last sent.")
    accepted_at: datetime | None = strawberry.field(description="When it was used.")
    created_at: datetime = strawberry.field(description="When staff invited.")
    marketplace_name: str = strawberry.field(description="The inviting marketplace.")
    company_id: relay.GlobalID | None = strawberry.field(
        description="The invited directory company (ProviderCompany), for referenced providers."
    )
    membership_id: relay.GlobalID | None = strawberry.field(
        description="The Membership created when it was accepted."
    )

    @classmethod
    def from_model(cls, i: InvitationModel) -> Invitation:
        company_id = i.company_id
        membership_id = i.membership_id
        return cls(
            id=i.id,
            email=i.email,
            status=use_cases.effective_status(i),
            expires_at=i.expires_at,
            sent_count=i.sent_count,
            last_sent_at=i.last_sent_at,
            accepted_at=i.accepted_at,
            created_at=i.created_at,
            marketplace_name=i.marketplace.name,
            company_id=encode_id("ProviderCompany", company_id) if company_id else None,
            membership_id=encode_id("Membership", membership_id) if membership_id else None,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {i.id: cls.from_model(i) for i in await use_cases.visible_invitations(actor, ids)}


@strawberry.type(
    description="What the holder of a sign-up link sees before having an account: the "
    "marketplace, its terms of use, internal documents and required documents (these three "
    "only while the invitation is PENDING)."
)
class InvitationPreview:
    email: str = strawberry.field(description="Address the invitation was sent to.")
    status: InvitationStatus = strawberry.field(description="Whether the link still works.")
    expires_at: datetime = strawberry.field(description="When the link stops working.")
    marketplace_name: str = strawberry.field(description="The inviting marketplace.")
    marketplace_slug: str = strawberry.field(
        description="Its short name, to send as `X-Marketplace` once a member."
    )
    invited_company_name: str | None = strawberry.field(
        description="For directory invitations: the company invited (log in with its account)."
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
    def from_preview(cls, p: use_cases.InvitationPreview) -> InvitationPreview:
        i = p.invitation
        return cls(
            email=i.email,
            status=p.status,
            expires_at=i.expires_at,
            marketplace_name=i.marketplace.name,
            marketplace_slug=i.marketplace.slug,
            invited_company_name=i.company.name if i.company else None,
            terms_of_use=TermsOfUse.from_model(p.terms, public_link=True) if p.terms else None,
            internal_documents=[
                Document.from_model(d, public_link=True) for d in p.internal_documents
            ],
            required_document_types=[DocumentType.from_model(t) for t in p.required_types],
        )


# --- inputs and payloads -------------------------------------------------------------------


@strawberry.input(description="Invite providers by e-mail.")
class InviteProvidersInput:
    emails: list[str] = strawberry.field(description="1 to 100 e-mail addresses.")


@strawberry.type(
    description="Result of inviteProviders: the valid addresses are invited even when others "
    "are refused, each with its own error."
)
class InviteProvidersPayload:
    user_errors: list[InvitationError] = strawberry.field(description="Refused addresses.")
    invitations: list[Invitation] = strawberry.field(
        default_factory=list, description="Invitations created and being e-mailed."
    )


@strawberry.input(description="Send an invitation again; the link works for a new period.")
class ResendInvitationInput:
    id: relay.GlobalID = strawberry.field(description="The Invitation (PENDING or EXPIRED).")


@strawberry.type(description="Result of resendInvitation.")
class ResendInvitationPayload:
    user_errors: list[InvitationError] = strawberry.field(description="Expected failures.")
    invitation: Invitation | None = strawberry.field(default=None, description="As it now is.")


@strawberry.input(description="Revoke an unused invitation: its link stops working.")
class RevokeInvitationInput:
    id: relay.GlobalID = strawberry.field(description="The Invitation.")


@strawberry.type(description="Result of revokeInvitation.")
class RevokeInvitationPayload:
    user_errors: list[InvitationError] = strawberry.field(description="Expected failures.")
    invitation: Invitation | None = strawberry.field(default=None, description="As it now is.")


@strawberry.input(description="The provider company of a new applicant.")
class CompanyInput:
    name: str = strawberry.field(description="Trade name, 1 to 200 characters.")
    siret: str = strawberry.field(default="", description="SIRET number: 14 digits, optional.")
    email: str = strawberry.field(default="", description="Contact e-mail, optional.")
    phone: str = strawberry.field(default="", description="Contact phone, optional.")
    listed_in_directory: bool = strawberry.field(
        default=False,
        description="Appear in the platform directory, where other marketplaces may invite it.",
    )


@strawberry.input(
    description="Use an invitation from the logged-in account: with the link's `token`, or "
    "for directory invitations of one's company with `invitationId`."
)
class AcceptInvitationInput:
    token: str | None = strawberry.field(default=None, description="Token of the sign-up link.")
    invitation_id: relay.GlobalID | None = strawberry.field(
        default=None, description="An Invitation of `myInvitations`."
    )
    company: CompanyInput | None = strawberry.field(
        default=None,
        description="The company to create, when the account has none yet (else ignored).",
    )


@strawberry.type(description="Result of acceptInvitation.")
class AcceptInvitationPayload:
    user_errors: list[InvitationError] = strawberry.field(description="Expected failures.")
    membership: Membership | None = strawberry.field(
        default=None,
        description="The new INVITED membership: accept the terms, file documents, then "
        "`submitApplication` (send the marketplace's slug as `X-Marketplace`).",
    )


def error_of(rejected: use_cases.Rejected) -> InvitationError:
    e = rejected.error
    return InvitationError(
        field=e.field,
        message=e.message,
        code=use_cases.InvitationErrorCode(e.code.value),
        email=rejected.email,
        company_id=encode_id("ProviderCompany", rejected.company_id)
        if rejected.company_id
        else None,
    )


async def partial(payload: Any, action: Any) -> Any:
    """Invite calls succeed in part: refused items join the whole-input errors."""

    async def fields() -> dict[str, Any]:
        invited, rejected = await action
        return {"invitations": invited, "rejected": rejected}

    def build(
        user_errors: list[InvitationError],
        invitations: list[InvitationModel] | None = None,
        rejected: list[use_cases.Rejected] | None = None,
    ) -> Any:
        return payload(
            user_errors=user_errors + [error_of(r) for r in rejected or []],
            invitations=[Invitation.from_model(i) for i in invitations or []],
        )

    return await _run(build, fields())


_run = Mutations(InvitationError, use_cases.InvitationErrorCode)


async def _invite(actor: Actor, data: InviteProvidersInput) -> Any:
    return await use_cases.invite_providers(actor, emails=data.emails)


async def _resend(actor: Actor, data: ResendInvitationInput) -> dict[str, Any]:
    i = await use_cases.resend_invitation(actor, invitation_id=decode_id(data.id, "Invitation"))
    return {"invitation": Invitation.from_model(i)}


async def _revoke(actor: Actor, data: RevokeInvitationInput) -> dict[str, Any]:
    i = await use_cases.revoke_invitation(actor, invitation_id=decode_id(data.id, "Invitation"))
    return {"invitation": Invitation.from_model(i)}


async def _accept(actor: Actor, data: AcceptInvitationInput) -> dict[str, Any]:
    company = data.company
    membership = await application.accept_invitation(
        actor,
        token=data.token,
        invitation_id=decode_id(data.invitation_id, "Invitation", field="invitationId")
        if data.invitation_id is not None
        else None,
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
class InvitationMutation:
    @strawberry.mutation(
        description="Staff: invite up to 100 addresses; each gets a single-use sign-up link by "
        "e-mail. Invalid, duplicate, already-member and already-invited addresses are refused "
        "one by one while the others are invited."
    )
    async def invite_providers(
        self, info: Info, input: InviteProvidersInput
    ) -> InviteProvidersPayload:
        return await partial(  # type: ignore[no-any-return]
            InviteProvidersPayload, _invite(info.context.actor, input)
        )

    @strawberry.mutation(description="Staff: e-mail the link again and extend its validity.")
    async def resend_invitation(
        self, info: Info, input: ResendInvitationInput
    ) -> ResendInvitationPayload:
        return await _run(ResendInvitationPayload, _resend(info.context.actor, input))

    @strawberry.mutation(description="Staff: revoke an unused invitation.")
    async def revoke_invitation(
        self, info: Info, input: RevokeInvitationInput
    ) -> RevokeInvitationPayload:
        return await _run(RevokeInvitationPayload, _revoke(info.context.actor, input))

    @strawberry.mutation(
        description="Logged-in user: use an invitation once. Creates the company when the "
        "account has none, and its membership in the marketplace, INVITED."
    )
    async def accept_invitation(
        self, info: Info, input: AcceptInvitationInput
    ) -> AcceptInvitationPayload:
        return await _run(AcceptInvitationPayload, _accept(info.context.actor, input))


@strawberry.type
class InvitationQuery:
    @strawberry.field(
        description="Anyone holding a sign-up link: its invitation, with the marketplace's "
        "terms and documents. Null for an unknown token."
    )
    async def invitation(
        self,
        token: Annotated[str, strawberry.argument(description="Token of the sign-up link.")],
    ) -> InvitationPreview | None:
        preview = await use_cases.preview_invitation(token)
        return InvitationPreview.from_preview(preview) if preview is not None else None

    @strawberry.field(description="Staff: the marketplace's invitations, newest first.")
    async def invitations(
        self,
        info: Info,
        status: Annotated[
            InvitationStatus | None, strawberry.argument(description="Only this status.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Invitation]:
        page = await use_cases.list_invitations(
            info.context.actor, status=status, first=first, after=after, last=last, before=before
        )
        return connection(page, Invitation.from_model)

    @strawberry.field(
        description="Provider user: pending invitations of its company from other marketplaces."
    )
    async def my_invitations(self, info: Info) -> list[Invitation]:
        return [
            Invitation.from_model(i) for i in await use_cases.my_invitations(info.context.actor)
        ]
