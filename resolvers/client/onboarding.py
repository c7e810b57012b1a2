"""Clients become real accounts: they sign up on a marketplace, or staff create them and a
single-use link lets them set a password."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from models.account import Client, User
from models.marketplace import Marketplace
from presta import clock
from presta.i18n import _, ngettext
from presta.mail import Letter, Link, send_letter
from presta.security import dummy_verify, hash_password, random_token, sha256_hex, sign
from presta.settings import settings
from presta.tx import AfterCommit, atomic
from resolvers.account import (
    Session,
    _check_password,
    _open_session,
    normalize_email,
    recipients,
)
from resolvers.actor import Actor
from resolvers.errors import UserError, UserErrors
from resolvers.invitation import days_left
from resolvers.marketplace import marketplace_id_from_header

MAX_NAME = 200
MAX_PHONE = 32
SEND_INVITATION_JOB = "send_client_invitation_email"


class ClientErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    INVALID_EMAIL = "INVALID_EMAIL"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    INVITATION_INVALID = "INVITATION_INVALID"
    INVITATION_EXPIRED = "INVITATION_EXPIRED"
    ALREADY_ERASED = "ALREADY_ERASED"
    PENDING_WORK = "PENDING_WORK"


def _as_client_error(exc: UserError) -> UserError:
    # Account errors share their codes' names with ours: the client payload speaks one enum.
    return UserError(ClientErrorCode(exc.code.value), exc.text, field=exc.field)


def _identity(email: str, full_name: str, phone: str) -> tuple[str, str, str, list[UserError]]:
    """Normalized e-mail, name and phone, with every invalid field reported."""
    errors: list[UserError] = []
    try:
        email = normalize_email(email)
    except UserError as exc:
        errors.append(_as_client_error(exc))
    full_name, phone = full_name.strip(), phone.strip()
    if not 1 <= len(full_name) <= MAX_NAME:
        errors.append(
            UserError(
                ClientErrorCode.INVALID,
                _("Give a name of 1 to {most} characters.", most=MAX_NAME),
                field="fullName",
            )
        )
    if len(phone) > MAX_PHONE or any(c not in "+0123456789 .-()" for c in phone):
        errors.append(
            UserError(
                ClientErrorCode.INVALID,
                _(
                    "A phone number has at most {most} digits, spaces, dots, dashes, "
                    "parentheses and a leading +.",
                    most=MAX_PHONE,
                ),
                field="phone",
            )
        )
    return email, full_name, phone, errors


async def sign_up_client(
    *, marketplace: str, email: str, password: str, full_name: str, phone: str = ""
) -> tuple[Session, Client]:
    """Anyone becomes a client of a marketplace (named by slug or global ID) with a new login,
    under the password rules of every account."""
    email, full_name, phone, errors = _identity(email, full_name, phone)
    try:
        _check_password(password)
    except UserError as exc:
        errors.append(_as_client_error(exc))
    marketplace_id = await marketplace_id_from_header(marketplace)
    if marketplace_id is None:
        errors.append(UserError(ClientErrorCode.NOT_FOUND, _("Marketplace not found."),
                                field="marketplace"))  # fmt: skip
    if errors:
        raise UserErrors(errors)
    assert marketplace_id is not None
    async with atomic():
        if (
            await User.filter(email=email).exists()
            or await Client.filter(marketplace_id=marketplace_id, email=email).exists()
        ):
            raise UserError(
                ClientErrorCode.EMAIL_TAKEN, _("An account exists for this e-mail."), field="email"
            )
        user = await User.create(
            email=email, password_hash=hash_password(password), full_name=full_name
        )
        client = await Client.create(
            marketplace_id=marketplace_id, user=user, full_name=full_name, email=email,
            phone=phone,
        )  # fmt: skip
        session = await _open_session(user)
    return session, client


def invitation_token(client: Client) -> str:
    # Derived from a stored nonce with the secret key: the database alone never yields a link.
    return sign(f"client-invitation:{client.invitation_nonce}")


def invitation_link(client: Client) -> str:
    return f"{settings().public_url}/client-invitation?token={invitation_token(client)}"


_INVITATION_FIELDS = [
    "invitation_nonce", "invitation_hash", "invitation_expires_at", "invitation_sent_count",
]  # fmt: skip


async def issue_invitation(tx: AfterCommit, client: Client) -> None:
    """A fresh link (the previous one stops working) and its e-mail, sent after commit."""
    client.invitation_nonce = random_token(24)
    client.invitation_hash = sha256_hex(invitation_token(client))
    client.invitation_expires_at = clock.now() + timedelta(days=settings().invitation_ttl_days)
    client.invitation_sent_count += 1
    await client.save(update_fields=_INVITATION_FIELDS)
    tx.enqueue(SEND_INVITATION_JOB, client_id=client.id)


def invitation_pending(client: Client) -> bool:
    return (
        client.user_id is None
        and client.erased_at is None
        and client.invitation_expires_at is not None
        and client.invitation_expires_at > clock.now()
    )


async def create_client(
    actor: Actor, *, email: str, full_name: str, phone: str = ""
) -> tuple[Client, bool]:
    """Staff create a client of their marketplace and invite it by e-mail to set a password.

    Idempotent by e-mail: the same address gives the same client (``False``: not created), and
    a new link is sent only when the client has no login and its last link expired."""
    marketplace_id = actor.require_staff()
    email, full_name, phone, errors = _identity(email, full_name, phone)
    if errors:
        raise UserErrors(errors)
    async with atomic() as tx:
        # One creation at a time per marketplace and address: a retried call finds the first.
        await Marketplace.filter(id=marketplace_id).select_for_update().first()
        client = await Client.get_or_none(marketplace_id=marketplace_id, email=email)
        if client is not None:
            if client.user_id is None and not invitation_pending(client):
                await issue_invitation(tx, client)
            return client, False
        client = await Client.create(
            marketplace_id=marketplace_id, email=email, full_name=full_name, phone=phone,
            created_by_id=actor.user_id,
        )  # fmt: skip
        await issue_invitation(tx, client)
    return client, True


async def accept_client_invitation(*, token: str, password: str) -> tuple[Session, Client]:
    """The holder of a client's link sets its password once, before the link expires, and is
    signed in. An e-mail that already has a login cannot be claimed this way."""
    token = token.strip()
    bad = UserError(
        ClientErrorCode.INVITATION_INVALID, _("This invitation link is not valid."), field="token"
    )
    if not token or len(token) > 128:
        dummy_verify(password)
        raise bad
    try:
        _check_password(password)
    except UserError as exc:
        raise _as_client_error(exc) from None
    async with atomic():
        client = await Client.filter(invitation_hash=sha256_hex(token)).select_for_update().first()
        if client is None or client.user_id is not None or client.erased_at is not None:
            raise bad
        if not invitation_pending(client):
            raise UserError(
                ClientErrorCode.INVITATION_EXPIRED,
                _("This invitation link has expired: ask the marketplace for a new one."),
                field="token",
            )
        if await User.filter(email=client.email).exists():
            raise UserError(
                ClientErrorCode.EMAIL_TAKEN,
                _("An account exists for this e-mail: ask the marketplace to use another address."),
                field="token",
            )
        user = await User.create(
            email=client.email, password_hash=hash_password(password), full_name=client.full_name
        )
        client.user = user
        client.invitation_nonce = client.invitation_hash = client.invitation_expires_at = None
        await client.save(update_fields=["user_id", *_INVITATION_FIELDS[:3]])
        session = await _open_session(user)
    return session, client


def client_invitation_letter(marketplace: str, link: str, days: int) -> Letter:
    """The e-mail inviting a client to set its password."""
    return Letter(
        subject=_("{marketplace} created your client account", marketplace=marketplace),
        paragraphs=[
            _(
                "{marketplace} created a client account for you on Presta. Choose your "
                "password with this link to follow your requests and visits:",
                marketplace=marketplace,
            ),
            Link(link),
            ngettext(
                "The link works once and expires in {n} day.",
                "The link works once and expires in {n} days.",
                days,
            ),
            _("If you did not expect this message, ignore it."),
        ],
    )


async def send_client_invitation_email(client_id: int) -> None:
    """Job: mail the link of a client still without a login (skipped otherwise)."""
    client = await Client.get_or_none(id=client_id).select_related("marketplace")
    if client is None or not invitation_pending(client):
        return
    assert client.invitation_expires_at is not None
    letter = client_invitation_letter(
        client.marketplace.name, invitation_link(client), days_left(client.invitation_expires_at)
    )
    await send_letter(letter, await recipients([client.email]))
