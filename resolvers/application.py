"""Applications: a provider joins through an invitation, applies, and staff decide."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from models.account import User
from models.invitation import Invitation, InvitationStatus
from models.membership import Membership, MembershipAudit, MembershipStatus, ProviderCompany
from presta import clock
from presta.i18n import Text, _
from presta.mail import Letter, Link, Paragraph, send_letter
from presta.security import sha256_hex
from presta.settings import settings
from presta.tx import AfterCommit, atomic
from resolvers.account import company_recipients
from resolvers.actor import Actor
from resolvers.company import CompanyData as CompanyData
from resolvers.company import clean_company
from resolvers.document import missing_required_documents
from resolvers.errors import UserError, UserErrors, not_found
from resolvers.invitation import ENDED, InvitationErrorCode, check_usable
from resolvers.lifecycle import clean_reason, lock_membership, record_membership_event, transition
from resolvers.membership import MembershipErrorCode, must_accept_terms

S = MembershipStatus


def clean_applicant_company(data: CompanyData) -> CompanyData:
    try:
        return clean_company(data)
    except UserErrors as exc:
        # The invitation's own codes: its payload reports INVALID for any field of the company.
        raise UserErrors(_invalid(e.text, e.field or "company") for e in exc.errors) from None


def _already_member(field: str) -> UserError:
    return UserError(
        InvitationErrorCode.ALREADY_MEMBER,
        _("Your company is already a provider here."),
        field=field,
    )


def _invalid(message: Text, field: str) -> UserError:
    return UserError(InvitationErrorCode.INVALID, message, field=field)


async def _lock_invitation(
    actor: Actor, token: str | None, invitation_id: int | None
) -> tuple[Invitation, str]:
    if token is not None:
        field = "token"
        token = token.strip()
        query = Invitation.filter(token_hash=sha256_hex(token)) if token else None
    elif invitation_id is not None and actor.company_id is not None:
        # Without the link, only the users of an invited directory company may accept.
        field = "invitationId"
        query = Invitation.filter(id=invitation_id, company_id=actor.company_id)
    else:
        raise not_found(_("Invitation"), field="invitationId" if invitation_id else "token")
    invitation = await query.select_for_update().first() if query is not None else None
    if invitation is None:
        raise not_found(_("Invitation"), field=field)
    check_usable(invitation, field=field)
    return invitation, field


async def accept_invitation(
    actor: Actor,
    *,
    token: str | None = None,
    invitation_id: int | None = None,
    company: CompanyData | None = None,
) -> Membership:
    """A provider user uses a pending invitation once: its company becomes INVITED here."""
    user_id = actor.require_user()
    cleaned = clean_applicant_company(company) if company is not None else None
    async with atomic() as tx:
        invitation, field = await _lock_invitation(actor, token, invitation_id)
        user = await User.filter(id=user_id).select_for_update().get()
        if invitation.company_id is not None and invitation.company_id != user.provider_company_id:
            raise UserError(
                InvitationErrorCode.INVALID,
                _("This invitation is for another company: log in with one of its accounts."),
                field=field,
            )
        membership = await join_marketplace(
            tx,
            user,
            invitation.marketplace_id,
            cleaned,
            reason="Invitation accepted.",
            field=field,
        )
        invitation.status = InvitationStatus.ACCEPTED
        invitation.accepted_at = clock.now()
        invitation.accepted_by_id = user_id
        invitation.membership = membership
        await invitation.save(
            update_fields=["status", "accepted_at", "accepted_by_id", "membership_id"]
        )
    return await Membership.get(id=membership.id).select_related("company", "marketplace")


async def join_marketplace(
    tx: AfterCommit,
    user: User,
    marketplace_id: int,
    company: CompanyData | None,
    *,
    reason: str,
    field: str,
) -> Membership:
    """The user's company (created from ``company`` if it has none) becomes INVITED in the
    marketplace, ready to apply; a relationship that ended (refused, deleted) starts again.
    The caller holds the user's row lock."""
    company_id = user.provider_company_id
    if company_id is None:
        if company is None:
            raise UserError(
                InvitationErrorCode.COMPANY_REQUIRED,
                _("Describe your company to join."),
                field="company",
            )
        created = await ProviderCompany.create(
            name=company.name,
            siret=company.siret,
            email=company.email,
            phone=company.phone,
            listed_in_directory=company.listed_in_directory,
        )
        company_id = created.id
        user.provider_company_id = company_id
        await user.save(update_fields=["provider_company_id"])
    membership = (
        await Membership.filter(marketplace_id=marketplace_id, company_id=company_id)
        .select_for_update()
        .first()
    )
    before: MembershipStatus | None = None
    if membership is None:
        try:
            membership = await Membership.create(
                marketplace_id=marketplace_id, company_id=company_id, status=S.INVITED
            )
        except IntegrityError:
            # Another invitation of the same company was accepted at the same moment.
            raise _already_member(field) from None
    elif membership.status in ENDED:
        before = membership.status
        membership.status = S.INVITED
        membership.applied_at = membership.decided_at = None
        await membership.save(update_fields=["status", "applied_at", "decided_at", "updated_at"])
    else:
        raise _already_member(field)
    await MembershipAudit.create(
        membership=membership,
        actor_id=user.id,
        from_status=before,
        to_status=S.INVITED,
        reason=reason,
    )
    await record_membership_event(tx, membership)
    return membership


async def submit_application(actor: Actor, *, membership_id: int) -> Membership:
    """A provider applies once its terms are accepted and required documents are valid."""
    actor.require_user()
    marketplace_id = actor.require_marketplace()
    async with atomic() as tx:
        membership = await lock_membership(marketplace_id, membership_id)
        if actor.company_id != membership.company_id:
            raise not_found(_("Membership"), field="membershipId")
        if membership.status is S.INVITED:
            missing: list[UserError] = []
            if await must_accept_terms(membership):
                missing.append(
                    UserError(
                        MembershipErrorCode.APPLICATION_INCOMPLETE,
                        _("Accept the current terms of use."),
                        field="terms",
                    )
                )
            for doc_type in await missing_required_documents(membership.id):
                missing.append(
                    UserError(
                        MembershipErrorCode.APPLICATION_INCOMPLETE,
                        _(
                            "Missing document: {label} ({code}).",
                            label=Text(doc_type.label),
                            code=doc_type.code,
                        ),
                        field="documents",
                    )
                )
            if missing:
                raise UserErrors(missing)
        return await transition(
            actor,
            tx,
            membership,
            allowed_from=(S.INVITED,),
            to=S.APPLIED,
            action=_("submit the application of"),
        )


async def accept_application(actor: Actor, *, membership_id: int, reason: str = "") -> Membership:
    """Staff accept an APPLIED provider: it can then receive requests."""
    marketplace_id = actor.require_staff()
    reason = clean_reason(reason)
    async with atomic() as tx:
        membership = await lock_membership(marketplace_id, membership_id)
        return await transition(
            actor,
            tx,
            membership,
            allowed_from=(S.APPLIED,),
            to=S.ACCEPTED,
            action=_("accept the application of"),
            reason=reason,
        )


async def refuse_application(actor: Actor, *, membership_id: int, reason: str) -> Membership:
    """Staff refuse an APPLIED provider with a reason, which is e-mailed to it."""
    marketplace_id = actor.require_staff()
    reason = clean_reason(reason, required=True)
    async with atomic() as tx:
        membership = await lock_membership(marketplace_id, membership_id)
        return await transition(
            actor,
            tx,
            membership,
            allowed_from=(S.APPLIED,),
            to=S.REFUSED,
            action=_("refuse the application of"),
            reason=reason,
        )


# (subject, news) of each change the provider is told about.
_NEWS = {
    (S.APPLIED, S.ACCEPTED): (
        _("Your application was accepted"),
        _("Your application was accepted: welcome!"),
    ),
    (S.APPLIED, S.REFUSED): (_("Your application was refused"), _("Your application was refused.")),
    (S.ACCEPTED, S.SUSPENDED): (
        _("Your account was suspended"),
        _("Your account was suspended: you receive no new requests."),
    ),
    (S.SUSPENDED, S.ACCEPTED): (
        _("Your account was reinstated"),
        _("Your account was reinstated."),
    ),
    (S.DEACTIVATED, S.ACCEPTED): (
        _("Your account was reactivated"),
        _("Your account was reactivated."),
    ),
}
_DEACTIVATED = (
    _("Your account was deactivated"),
    _("Your account was deactivated: you receive no new requests."),
)
_ENDED = (
    _("Your relationship with this marketplace was ended"),
    _("Your relationship with this marketplace was ended."),
)


async def notify_membership_change(audit_id: int) -> None:
    """Job: tell the provider company's users about a decision of the marketplace's staff."""
    audit = await MembershipAudit.get_or_none(id=audit_id).select_related(
        "membership__marketplace", "membership__company"
    )
    if audit is None:
        return
    change = (audit.from_status, audit.to_status)
    if audit.to_status is S.DEACTIVATED:
        subject, news = _DEACTIVATED
    elif audit.to_status is S.DELETED:
        subject, news = _ENDED
    elif change in _NEWS:
        subject, news = _NEWS[change]
    else:
        return
    membership = audit.membership
    letter = membership_change_letter(
        membership.marketplace.name, membership.company.name, subject, news, audit.reason
    )
    await send_letter(letter, await company_recipients(membership.company))


def membership_change_letter(
    marketplace: str, company: str, subject: Text, news: Text, reason: str
) -> Letter:
    """The e-mail telling a provider a decision of the marketplace about its membership."""
    paragraphs: list[Paragraph] = [f"{marketplace} — {company}", news]
    if reason:
        paragraphs.append(
            _("Reason given by {marketplace}:\n{reason}", marketplace=marketplace, reason=reason)
        )
    paragraphs.append(Link(f"{settings().public_url}/", _("Your provider file:")))
    return Letter(
        subject=_("{marketplace}: {news}", marketplace=marketplace, news=subject),
        paragraphs=paragraphs,
    )
