"""A provider company's own account: its details, and the colleagues who share it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from models.account import User
from models.membership import ColleagueInvitation, Membership, MembershipStatus, ProviderCompany
from presta import clock
from presta.i18n import _, ngettext
from presta.mail import Letter, Link, send_letter
from presta.security import random_token, sha256_hex, sign
from presta.settings import settings
from presta.tx import atomic
from resolvers.account import normalize_email, recipients
from resolvers.actor import Actor
from resolvers.errors import UserError, UserErrors, forbidden, not_found
from resolvers.events import record_event
from resolvers.invitation import days_left
from resolvers.lifecycle import record_membership_event

COMPANY_UPDATED = "provider_company.updated"
# La Poste's establishments share one SIREN; their SIRETs follow their own checksum.
_LA_POSTE = "356000000"


class CompanyErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    INVALID_SIRET = "INVALID_SIRET"
    INVALID_EMAIL = "INVALID_EMAIL"
    ALREADY_COLLEAGUE = "ALREADY_COLLEAGUE"
    OTHER_COMPANY = "OTHER_COMPANY"
    WRONG_ACCOUNT = "WRONG_ACCOUNT"
    INVITATION_EXPIRED = "INVITATION_EXPIRED"
    INVITATION_USED = "INVITATION_USED"
    LAST_USER = "LAST_USER"


@dataclass(frozen=True, slots=True)
class CompanyData:
    name: str
    siret: str = ""
    email: str = ""
    phone: str = ""
    listed_in_directory: bool = False


def valid_siret(siret: str) -> bool:
    """14 digits whose Luhn checksum holds (La Poste's: digits summing to a multiple of 5)."""
    if not re.fullmatch(r"\d{14}", siret):
        return False
    if siret.startswith(_LA_POSTE):
        return sum(int(c) for c in siret) % 5 == 0
    total = 0
    for i, c in enumerate(reversed(siret)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def clean_company(data: CompanyData, *, prefix: str = "company.") -> CompanyData:
    """The company's details as stored, or every invalid field at once."""
    errors: list[UserError] = []
    name = data.name.strip()
    if not 1 <= len(name) <= 200:
        errors.append(
            UserError(
                CompanyErrorCode.INVALID,
                _("The company name is 1 to 200 characters."),
                field=f"{prefix}name",
            )
        )
    siret = re.sub(r"\s", "", data.siret)
    if siret and not valid_siret(siret):
        errors.append(
            UserError(
                CompanyErrorCode.INVALID_SIRET,
                _("A SIRET number has 14 digits and a valid check digit."),
                field=f"{prefix}siret",
            )
        )
    email = ""
    if data.email.strip():
        try:
            email = normalize_email(data.email, field=f"{prefix}email")
        except UserError as exc:
            errors.append(UserError(CompanyErrorCode.INVALID_EMAIL, exc.text, field=exc.field))
    phone = data.phone.strip()
    if len(phone) > 32:
        errors.append(
            UserError(
                CompanyErrorCode.INVALID,
                _("The phone number is at most 32 characters."),
                field=f"{prefix}phone",
            )
        )
    if errors:
        raise UserErrors(errors)
    return CompanyData(name, siret, email, phone, data.listed_in_directory)


def _company_of(actor: Actor) -> int:
    actor.require_user()
    if actor.company_id is None:
        raise forbidden(_("Only the users of a provider company may do this."))
    return actor.company_id


async def still_colleague(actor: Actor) -> bool:
    """Whether a provider user's actor built earlier (an open subscription's) is still on its
    company's account (``remove_colleague``) and active."""
    if actor.membership_id is None or actor.user_id is None:
        return True
    return await User.exists(id=actor.user_id, provider_company_id=actor.company_id, is_active=True)


async def my_company(actor: Actor) -> ProviderCompany:
    """The company of the signed-in provider user."""
    return await ProviderCompany.get(id=_company_of(actor))


async def colleagues(actor: Actor) -> list[User]:
    """The users who share the actor's company account, oldest first."""
    return await User.filter(provider_company_id=_company_of(actor), is_active=True).order_by("id")


async def pending_colleague_invitations(actor: Actor) -> list[ColleagueInvitation]:
    return await ColleagueInvitation.filter(
        company_id=_company_of(actor), accepted_at=None, expires_at__gt=clock.now()
    ).order_by("-id")


async def update_provider_company(actor: Actor, *, data: CompanyData) -> ProviderCompany:
    """A provider user edits its company; the staff of each of its marketplaces see it live."""
    company_id = _company_of(actor)
    cleaned = clean_company(data, prefix="")
    async with atomic() as tx:
        company = await ProviderCompany.filter(id=company_id).select_for_update().get()
        company.name = cleaned.name
        company.siret = cleaned.siret
        company.email = cleaned.email
        company.phone = cleaned.phone
        company.listed_in_directory = cleaned.listed_in_directory
        await company.save(update_fields=["name", "siret", "email", "phone", "listed_in_directory"])
        for membership in await Membership.filter(company_id=company_id).exclude(
            status=MembershipStatus.DELETED
        ):
            await record_membership_event(tx, membership)
    return company


def colleague_token(invitation: ColleagueInvitation) -> str:
    return sign(f"colleague:{invitation.token_nonce}")


def colleague_link(invitation: ColleagueInvitation) -> str:
    return f"{settings().public_url}/join-company?invitation={colleague_token(invitation)}"


async def invite_colleague(actor: Actor, *, email: str) -> ColleagueInvitation:
    """A provider user invites someone to share its company account (a link by e-mail)."""
    company_id = _company_of(actor)
    address = normalize_email(email)
    async with atomic() as tx:
        if await User.filter(email=address, provider_company_id=company_id).exists():
            raise UserError(
                CompanyErrorCode.ALREADY_COLLEAGUE,
                _("This person already uses your company account."),
                field="email",
            )
        invitation = ColleagueInvitation(
            company_id=company_id,
            email=address,
            token_nonce=random_token(24),
            invited_by_id=actor.user_id,
            expires_at=clock.now() + timedelta(days=settings().invitation_ttl_days),
        )
        invitation.token_hash = sha256_hex(colleague_token(invitation))
        await invitation.save()
        tx.enqueue("send_colleague_invitation", invitation_id=invitation.id)
    return invitation


async def accept_colleague_invitation(actor: Actor, *, token: str) -> ProviderCompany:
    """The invited person, signed in with the invited address, joins the company account: it
    acts for the company in all its marketplaces from its next request on."""
    user_id = actor.require_user()
    async with atomic() as tx:
        invitation = (
            await ColleagueInvitation.filter(token_hash=sha256_hex(token.strip()))
            .select_for_update()
            .first()
        )
        if invitation is None:
            raise not_found(_("Invitation"), field="token")
        if invitation.accepted_at is not None:
            raise UserError(
                CompanyErrorCode.INVITATION_USED, _("This invitation was used."), field="token"
            )
        if invitation.expires_at <= clock.now():
            raise UserError(
                CompanyErrorCode.INVITATION_EXPIRED,
                _("This invitation expired: ask your colleague for a new one."),
                field="token",
            )
        user = await User.filter(id=user_id).select_for_update().get()
        if user.email != invitation.email:
            raise UserError(
                CompanyErrorCode.WRONG_ACCOUNT,
                _(
                    "This invitation is for {email}: sign in with that account.",
                    email=invitation.email,
                ),
                field="token",
            )
        if user.provider_company_id == invitation.company_id:
            raise UserError(
                CompanyErrorCode.ALREADY_COLLEAGUE,
                _("You already use this company account."),
                field="token",
            )
        if user.provider_company_id is not None:
            raise UserError(
                CompanyErrorCode.OTHER_COMPANY,
                _("Your account belongs to another provider company."),
                field="token",
            )
        user.provider_company_id = invitation.company_id
        await user.save(update_fields=["provider_company_id"])
        invitation.accepted_at = clock.now()
        invitation.accepted_by_id = user_id
        await invitation.save(update_fields=["accepted_at", "accepted_by_id"])
        await record_event(
            tx,
            topic=COMPANY_UPDATED,
            marketplace_id=None,
            object_type="User",
            object_id=user_id,
            audience=[f"user:{user_id}"],
            payload={"company": invitation.company_id},
        )
    return await ProviderCompany.get(id=invitation.company_id)


async def remove_colleague(actor: Actor, *, email: str) -> User:
    """A provider user takes someone (itself included: it leaves) off the company account,
    never the last one. The person acts for the company no more from its next request, and
    its live feeds as a provider stop; its own login stays (it may be a client elsewhere)."""
    company_id = _company_of(actor)
    address = normalize_email(email)
    async with atomic() as tx:
        users = await User.filter(provider_company_id=company_id).select_for_update().order_by("id")
        leaving = next((u for u in users if u.email == address), None)
        if leaving is None:
            raise not_found(_("Colleague"), field="email")
        if not any(u.is_active and u.id != leaving.id for u in users):
            raise UserError(
                CompanyErrorCode.LAST_USER,
                _("A company account keeps at least one user: invite someone else first."),
                field="email",
            )
        leaving.provider_company_id = None
        await leaving.save(update_fields=["provider_company_id"])
        await record_event(
            tx,
            topic=COMPANY_UPDATED,
            marketplace_id=None,
            object_type="User",
            object_id=leaving.id,
            audience=[f"user:{u.id}" for u in users],
            payload={"company": None, "left": company_id},
        )
    return leaving


async def send_colleague_invitation(invitation_id: int) -> None:
    """Job: mail the link of a colleague invitation still open (skipped otherwise)."""
    invitation = await ColleagueInvitation.get_or_none(id=invitation_id).select_related(
        "company", "invited_by"
    )
    if invitation is None or invitation.accepted_at is not None:
        return
    if invitation.expires_at <= clock.now():
        return
    inviter = invitation.invited_by
    letter = colleague_invitation_letter(
        invitation.company.name,
        inviter.full_name or inviter.email if inviter is not None else "",
        colleague_link(invitation),
        days_left(invitation.expires_at),
    )
    await send_letter(letter, await recipients([invitation.email]))


def colleague_invitation_letter(company: str, inviter: str, link: str, days: int) -> Letter:
    if inviter:
        opening = _(
            "{inviter} invites you to share the provider account of {company} on Presta: its "
            "requests, interventions, documents and conversations in every marketplace it "
            "works with.",
            inviter=inviter,
            company=company,
        )
    else:
        opening = _(
            "You are invited to share the provider account of {company} on Presta: its "
            "requests, interventions, documents and conversations in every marketplace it "
            "works with.",
            company=company,
        )
    return Letter(
        subject=_("Join {company} on Presta", company=company),
        paragraphs=[
            opening,
            _("Sign in (or create your account) with this address, then follow this link:"),
            Link(link),
            ngettext(
                "The link works once and expires in {n} day.",
                "The link works once and expires in {n} days.",
                days,
            ),
            _("If you did not expect this invitation, ignore this message."),
        ],
    )
