"""Invitations: staff invite providers by e-mail or from the directory; links expire."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from models.account import User
from models.document import Document, DocumentType
from models.invitation import Invitation, InvitationStatus
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus, ProviderCompany
from models.terms import TermsVersion
from presta import clock
from presta.i18n import Text, _, ngettext
from presta.mail import Letter, Link, send_letter
from presta.security import random_token, sha256_hex, sign
from presta.settings import settings
from presta.tx import AfterCommit, atomic
from resolvers.account import normalize_email, recipients
from resolvers.actor import Actor
from resolvers.document import required_types_of
from resolvers.errors import UserError, not_found
from resolvers.pagination import Page, keyset_page
from resolvers.terms import current_terms, internal_documents_of

MAX_EMAILS = 100
# Relationships that a new invitation may start again.
ENDED = (MembershipStatus.DELETED, MembershipStatus.REFUSED)


class InvitationErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    INVALID_EMAIL = "INVALID_EMAIL"
    DUPLICATE_EMAIL = "DUPLICATE_EMAIL"
    TOO_MANY_EMAILS = "TOO_MANY_EMAILS"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    ALREADY_INVITED = "ALREADY_INVITED"
    NOT_IN_DIRECTORY = "NOT_IN_DIRECTORY"
    INVITATION_EXPIRED = "INVITATION_EXPIRED"
    INVITATION_REVOKED = "INVITATION_REVOKED"
    INVITATION_USED = "INVITATION_USED"
    COMPANY_REQUIRED = "COMPANY_REQUIRED"


@dataclass(frozen=True, slots=True)
class Rejected:
    """One address (or company) that was not invited, and why."""

    error: UserError
    email: str | None = None
    company_id: int | None = None


def token_of(invitation: Invitation) -> str:
    # Derived from a stored nonce with the secret key: the database alone never yields a link.
    return sign(f"invitation:{invitation.token_nonce}")


def signup_link(invitation: Invitation) -> str:
    return f"{settings().public_url}/signup?invitation={token_of(invitation)}"


def effective_status(invitation: Invitation) -> InvitationStatus:
    if invitation.status is InvitationStatus.PENDING and invitation.expires_at <= clock.now():
        return InvitationStatus.EXPIRED
    return invitation.status


async def new_invitation(
    actor: Actor,
    tx: AfterCommit,
    marketplace_id: int,
    *,
    email: str,
    company: ProviderCompany | None = None,
) -> Invitation:
    nonce = random_token(24)
    now = clock.now()
    invitation = Invitation(
        marketplace_id=marketplace_id,
        email=email,
        token_nonce=nonce,
        status=InvitationStatus.PENDING,
        expires_at=now + timedelta(days=settings().invitation_ttl_days),
        company=company,
        sent_count=1,
        last_sent_at=now,
        created_by_id=actor.user_id,
    )
    invitation.token_hash = sha256_hex(token_of(invitation))
    await invitation.save()
    tx.enqueue("send_invitation_email", invitation_id=invitation.id)
    return invitation


async def _active_member_emails(marketplace_id: int, emails: list[str]) -> set[str]:
    """Addresses of users or companies already in a live relationship with the marketplace."""
    live = Membership.filter(marketplace_id=marketplace_id).exclude(status__in=ENDED)
    company_ids = await live.values_list("company_id", flat=True)
    if not company_ids:
        return set()
    users = await User.filter(email__in=emails, provider_company_id__in=company_ids).values_list(
        "email", flat=True
    )
    companies = await ProviderCompany.filter(email__in=emails, id__in=company_ids).values_list(
        "email", flat=True
    )
    return {str(e) for e in [*users, *companies]}


async def _pending_emails(marketplace_id: int, emails: list[str]) -> set[str]:
    rows = await Invitation.filter(
        marketplace_id=marketplace_id,
        email__in=emails,
        status=InvitationStatus.PENDING,
        expires_at__gt=clock.now(),
    ).values_list("email", flat=True)
    return {str(e) for e in rows}


async def invite_providers(
    actor: Actor, *, emails: list[str]
) -> tuple[list[Invitation], list[Rejected]]:
    """Staff invite up to 100 addresses; bad ones are reported one by one, the others invited."""
    marketplace_id = actor.require_staff()
    if not emails:
        raise UserError(
            InvitationErrorCode.INVALID, _("Give at least one address."), field="emails"
        )
    if len(emails) > MAX_EMAILS:
        raise UserError(
            InvitationErrorCode.TOO_MANY_EMAILS,
            _(
                "At most {most} addresses per call ({given} given).",
                most=MAX_EMAILS,
                given=len(emails),
            ),
            field="emails",
        )
    rejected: list[Rejected] = []
    wanted: list[str] = []
    for raw in emails:
        try:
            email = normalize_email(raw, field="emails")
        except UserError as exc:
            rejected.append(
                Rejected(
                    UserError(InvitationErrorCode.INVALID_EMAIL, exc.text, field="emails"),
                    email=raw,
                )
            )
            continue
        if email in wanted:
            rejected.append(
                Rejected(
                    _email_error(
                        InvitationErrorCode.DUPLICATE_EMAIL,
                        email,
                        _("{email} appears more than once in the list.", email=email),
                    ),
                    email,
                )
            )
            continue
        wanted.append(email)
    invited: list[Invitation] = []
    async with atomic() as tx:
        # One invitation run at a time per marketplace, so two staff cannot double-invite.
        await Marketplace.filter(id=marketplace_id).select_for_update().first()
        members = await _active_member_emails(marketplace_id, wanted)
        pending = await _pending_emails(marketplace_id, wanted)
        for email in wanted:
            if email in members:
                rejected.append(
                    Rejected(
                        _email_error(
                            InvitationErrorCode.ALREADY_MEMBER,
                            email,
                            _("{email} is already a provider here.", email=email),
                        ),
                        email,
                    )
                )
            elif email in pending:
                rejected.append(
                    Rejected(
                        _email_error(
                            InvitationErrorCode.ALREADY_INVITED,
                            email,
                            _("{email} has a pending invitation: resend it.", email=email),
                        ),
                        email,
                    )
                )
            else:
                invited.append(await new_invitation(actor, tx, marketplace_id, email=email))
    if invited:
        await Invitation.fetch_for_list(invited, "marketplace")
    return invited, rejected


def _email_error(code: InvitationErrorCode, email: str, why: Text) -> UserError:
    return UserError(code, why, field="emails")


async def _lock_staff_invitation(actor: Actor, invitation_id: int) -> Invitation:
    marketplace_id = actor.require_staff()
    invitation = (
        await Invitation.filter(id=invitation_id, marketplace_id=marketplace_id)
        .select_for_update()
        .first()
    )
    if invitation is None:
        raise not_found(_("Invitation"))
    return invitation


async def resend_invitation(actor: Actor, *, invitation_id: int) -> Invitation:
    """Staff resend a pending or expired invitation: the same link, valid for a new period
    (returned with its marketplace)."""
    async with atomic() as tx:
        invitation = await _lock_staff_invitation(actor, invitation_id)
        if invitation.status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            raise _closed(invitation, field="id")
        now = clock.now()
        invitation.status = InvitationStatus.PENDING
        invitation.expires_at = now + timedelta(days=settings().invitation_ttl_days)
        invitation.sent_count += 1
        invitation.last_sent_at = now
        await invitation.save(update_fields=["status", "expires_at", "sent_count", "last_sent_at"])
        tx.enqueue("send_invitation_email", invitation_id=invitation.id)
    await invitation.fetch_related("marketplace")
    return invitation


async def revoke_invitation(actor: Actor, *, invitation_id: int) -> Invitation:
    """Staff revoke an invitation that was not used: its link stops working at once
    (returned with its marketplace)."""
    async with atomic():
        invitation = await _lock_staff_invitation(actor, invitation_id)
        if invitation.status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            raise _closed(invitation, field="id")
        invitation.status = InvitationStatus.REVOKED
        invitation.revoked_at = clock.now()
        await invitation.save(update_fields=["status", "revoked_at"])
    await invitation.fetch_related("marketplace")
    return invitation


def _closed(invitation: Invitation, *, field: str) -> UserError:
    status = effective_status(invitation)
    if status is InvitationStatus.REVOKED:
        return UserError(
            InvitationErrorCode.INVITATION_REVOKED, _("The invitation was revoked."), field=field
        )
    if status is InvitationStatus.ACCEPTED:
        return UserError(
            InvitationErrorCode.INVITATION_USED, _("The invitation was already used."), field=field
        )
    return UserError(
        InvitationErrorCode.INVITATION_EXPIRED, _("The invitation has expired."), field=field
    )


def check_usable(invitation: Invitation, *, field: str) -> None:
    """A link works once, while pending and before its expiry."""
    if effective_status(invitation) is not InvitationStatus.PENDING:
        raise _closed(invitation, field=field)


async def invitation_by_token(token: str) -> Invitation | None:
    """Anyone holding the link may read its invitation (it is the sign-up page's content)."""
    token = token.strip()
    if not token or len(token) > 128:
        return None
    return await Invitation.get_or_none(token_hash=sha256_hex(token)).select_related(
        "marketplace", "company"
    )


@dataclass(frozen=True, slots=True)
class InvitationPreview:
    """What the sign-up page shows to whoever holds a link (no account needed)."""

    invitation: Invitation
    status: InvitationStatus
    terms: TermsVersion | None
    internal_documents: list[Document]
    required_types: list[DocumentType]


async def preview_invitation(token: str) -> InvitationPreview | None:
    """The invitation of a link; the marketplace's terms and documents while it is usable."""
    invitation = await invitation_by_token(token)
    if invitation is None:
        return None
    status = effective_status(invitation)
    if status is not InvitationStatus.PENDING:
        return InvitationPreview(invitation, status, None, [], [])
    marketplace_id: int = invitation.marketplace_id
    return InvitationPreview(
        invitation,
        status,
        await current_terms(marketplace_id),
        await internal_documents_of(marketplace_id),
        await required_types_of(marketplace_id),
    )


async def list_invitations(
    actor: Actor,
    *,
    status: InvitationStatus | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Invitation]:
    """Staff page through the marketplace's invitations, newest first (with their
    marketplace)."""
    marketplace_id = actor.require_reader()
    query = Invitation.filter(marketplace_id=marketplace_id)
    now = clock.now()
    if status is InvitationStatus.PENDING:
        query = query.filter(status=status, expires_at__gt=now)
    elif status is InvitationStatus.EXPIRED:
        query = query.filter(status__in=[InvitationStatus.PENDING, status], expires_at__lte=now)
    elif status is not None:
        query = query.filter(status=status)
    page = await keyset_page(query, first=first, after=after, last=last, before=before)
    await Invitation.fetch_for_list(page.items, "marketplace")
    return page


async def visible_invitations(actor: Actor, ids: list[int]) -> list[Invitation]:
    """Staff of its marketplace, and users of the invited company acting anywhere."""
    if not ids or not actor.is_authenticated:
        return []
    rows = await Invitation.filter(id__in=ids).select_related("marketplace")
    return [
        i
        for i in rows
        if (actor.sees_whole_marketplace and i.marketplace_id == actor.marketplace_id)
        or (actor.company_id is not None and i.company_id == actor.company_id)
    ]


async def my_invitations(actor: Actor) -> list[Invitation]:
    """A provider user's pending invitations from other marketplaces of the directory."""
    actor.require_user()
    if actor.company_id is None:
        return []
    return (
        await Invitation.filter(
            company_id=actor.company_id,
            status=InvitationStatus.PENDING,
            expires_at__gt=clock.now(),
        )
        .select_related("marketplace")
        .order_by("-id")
    )


async def send_invitation_email(invitation_id: int) -> None:
    """Job: mail the sign-up link of a still pending invitation (skipped otherwise)."""
    invitation = await Invitation.get_or_none(id=invitation_id).select_related(
        "marketplace", "company"
    )
    if invitation is None or effective_status(invitation) is not InvitationStatus.PENDING:
        return
    if not invitation.email:
        return
    letter = invitation_letter(invitation, days=days_left(invitation.expires_at))
    await send_letter(letter, await recipients([invitation.email]))


def days_left(expires_at: datetime) -> int:
    """Whole days until the link expires, a started day counting as one: a 14-day link sent
    a minute after it was made expires "in 14 days", not 13."""
    seconds = (expires_at - clock.now()).total_seconds()
    return max(1, math.ceil(seconds / 86400))


def invitation_letter(invitation: Invitation, *, days: int) -> Letter:
    """The invitation e-mail: who invites, the sign-up link and when it expires."""
    marketplace = invitation.marketplace
    if invitation.company is not None:
        opening = _(
            "{marketplace} invites {company} to join its network of providers. Log in to your "
            "Presta account to accept, or follow this link:",
            marketplace=marketplace.name,
            company=invitation.company.name,
        )
    else:
        opening = _(
            "{marketplace} invites you to join its network of service providers on Presta. "
            "Create your account and apply with this link:",
            marketplace=marketplace.name,
        )
    return Letter(
        subject=_("{marketplace} invites you to join its providers", marketplace=marketplace.name),
        paragraphs=[
            opening,
            Link(signup_link(invitation)),
            ngettext(
                "The link works once and expires in {n} day.",
                "The link works once and expires in {n} days.",
                days,
            ),
            _("If you did not expect this invitation, ignore this message."),
        ],
    )
