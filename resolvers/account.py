"""Accounts: sign-up, log-in with rotating refresh tokens, profiles and API keys.

Authenticating a request is ``resolvers.authentication``; its names stay importable from here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

from models.account import ApiKey, ApiScope, Client, RefreshToken, User
from models.membership import ProviderCompany
from presta import clock, db
from presta.i18n import LOCALES, _
from presta.mail import Recipient
from presta.security import (
    dummy_verify,
    hash_password,
    make_access_token,
    random_token,
    sha256_hex,
    verify_password,
)
from presta.settings import settings
from presta.tx import atomic
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.authentication import (
    API_KEY_PREFIX,
    Profile,
    actor_for_user,
    authenticate,
    authenticate_with_profile,
)
from resolvers.errors import AuthError, UserError, UserErrors, not_found
from resolvers.events import record_event

# The authentication names, re-exported for the transport, the demo data and test helpers.
__all__ = [
    "AuthError",
    "Profile",
    "Session",
    "actor_for_user",
    "authenticate",
    "authenticate_with_profile",
]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
USER_UPDATED = "user.updated"


class AccountErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    INVALID_EMAIL = "INVALID_EMAIL"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    access_token: str
    expires_in: int
    refresh_token: str


def normalize_email(email: str, *, field: str = "email") -> str:
    """Normalized form used for uniqueness: validated syntax, lower-cased."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise UserError(
            AccountErrorCode.INVALID_EMAIL,
            _("{address} is not a valid e-mail address.", address=email.strip()[:254]),
            field=field,
        ) from None


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserError(
            AccountErrorCode.WEAK_PASSWORD,
            _(
                "Password must be {low} to {high} characters long.",
                low=MIN_PASSWORD_LENGTH,
                high=MAX_PASSWORD_LENGTH,
            ),
            field="password",
        )


async def sign_up(*, email: str, password: str, full_name: str) -> Session:
    """Create a user account; the only operation that tells whether an e-mail is taken."""
    errors: list[UserError] = []
    try:
        email = normalize_email(email)
    except UserError as exc:
        errors.append(exc)
    try:
        _check_password(password)
    except UserError as exc:
        errors.append(exc)
    if len(full_name.strip()) > 200:
        errors.append(UserError(AccountErrorCode.INVALID, _("Name is too long."), field="fullName"))
    if errors:
        raise UserErrors(errors)
    async with atomic():
        if await User.filter(email=email).exists():
            raise UserError(
                AccountErrorCode.EMAIL_TAKEN, _("An account exists for this e-mail."), field="email"
            )
        user = await User.create(
            email=email, password_hash=hash_password(password), full_name=full_name.strip()
        )
        return await _open_session(user)


async def log_in(*, email: str, password: str) -> Session:
    """Same answer for an unknown e-mail and a wrong password, in about the same time."""
    try:
        email = normalize_email(email)
    except UserError:
        email = ""
    user = await User.get_or_none(email=email, is_active=True) if email else None
    if user is None:
        dummy_verify(password)
        raise _bad_credentials()
    if not verify_password(user.password_hash, password):
        raise _bad_credentials()
    async with atomic():
        return await _open_session(user)


def _bad_credentials() -> UserError:
    return UserError(AccountErrorCode.INVALID_CREDENTIALS, _("Wrong e-mail or password."))


async def refresh_session(*, refresh_token: str) -> Session:
    """Rotate a refresh token; presenting an already-rotated one revokes its whole family."""
    now = clock.now()
    async with atomic():
        token = (
            await RefreshToken.filter(token_hash=sha256_hex(refresh_token))
            .select_for_update()
            .first()
        )
        invalid = UserError(
            AccountErrorCode.INVALID_REFRESH_TOKEN,
            _("Invalid refresh token."),
            field="refreshToken",
        )
        if token is None or token.revoked_at is not None or token.expires_at <= now:
            raise invalid
        if token.rotated_at is not None:
            await RefreshToken.filter(family=token.family, revoked_at=None).update(revoked_at=now)
            reuse = True
        else:
            reuse = False
            token.rotated_at = now
            await token.save(update_fields=["rotated_at"])
            user = await User.get(id=token.user_id)
            if not user.is_active:
                raise invalid
            session = await _open_session(user, family=token.family)
    if reuse:
        # Raised after the block so the family revocation commits.
        raise invalid
    return session


async def log_out(*, refresh_token: str) -> None:
    token = await RefreshToken.get_or_none(token_hash=sha256_hex(refresh_token))
    if token is not None:
        await RefreshToken.filter(family=token.family, revoked_at=None).update(
            revoked_at=clock.now()
        )


async def _open_session(user: User, *, family: uuid.UUID | None = None) -> Session:
    access, ttl = make_access_token(user.id)
    refresh = random_token()
    await RefreshToken.create(
        user=user,
        family=family or uuid.uuid4(),
        token_hash=sha256_hex(refresh),
        expires_at=clock.now() + timedelta(days=settings().refresh_token_ttl_days),
    )
    return Session(user=user, access_token=access, expires_in=ttl, refresh_token=refresh)


async def create_platform_admin(*, email: str, password: str, full_name: str = "") -> User:
    """Operator bootstrap (CLI): create or promote a platform admin."""
    email = normalize_email(email)
    _check_password(password)
    async with atomic():
        user = await User.get_or_none(email=email)
        if user is None:
            return await User.create(
                email=email,
                password_hash=hash_password(password),
                full_name=full_name,
                is_platform_admin=True,
            )
        user.is_platform_admin = True
        await user.save(update_fields=["is_platform_admin"])
        return user


async def recipients(emails: Iterable[str]) -> list[Recipient]:
    """Each address (deduplicated, sorted) with the language its account chose; an address
    without an account, or whose account chose nothing, gets the default (French)."""
    wanted = sorted({e for e in emails if e})
    if not wanted:
        return []
    chosen = dict(await User.filter(email__in=wanted).values_list("email", "locale"))
    return [Recipient(e, chosen.get(e)) for e in wanted]


async def company_recipients(company: ProviderCompany) -> list[Recipient]:
    """Who hears about a provider company: its active users and its contact address."""
    emails = await User.filter(provider_company_id=company.id, is_active=True).values_list(
        "email", flat=True
    )
    return await recipients([str(e) for e in emails] + [company.email])


async def client_recipient(client: Client) -> Recipient:
    """A client's address, in the language of its login if it has one."""
    user = None
    if client.user_id is not None:
        user = await User.get_or_none(id=client.user_id).only("id", "locale")
    return Recipient(client.email, user.locale if user is not None else None)


async def update_profile(
    actor: Actor, *, full_name: str | None = None, locale: str | None = None
) -> User:
    """A user changes their own name or language; their other sessions see it live."""
    user_id = actor.require_user()
    changes: dict[str, str] = {}
    if full_name is not None:
        changes["full_name"] = full_name.strip()
        if len(changes["full_name"]) > 200:
            raise UserError(AccountErrorCode.INVALID, _("Name is too long."), field="fullName")
    if locale is not None:
        if locale not in LOCALES:
            raise UserError(
                AccountErrorCode.INVALID,
                _("Choose one of these languages: {locales}.", locales=", ".join(LOCALES)),
                field="locale",
            )
        changes["locale"] = locale
    async with atomic() as tx:
        user = await User.get(id=user_id)
        if not changes:
            return user
        user.update_from_dict(changes)
        await user.save(update_fields=list(changes))
        await record_event(
            tx,
            topic=USER_UPDATED,
            marketplace_id=None,
            object_type="User",
            object_id=user.id,
            audience=[f"user:{user.id}"],
        )
    return user


async def load_self(actor: Actor, user_id: int) -> User | None:
    """The user, if it is the actor itself."""
    if actor.user_id != user_id:
        return None
    return await db.by_id(User, user_id)


async def visible_users(actor: Actor, ids: list[int]) -> list[User]:
    """People are only visible as themselves; others appear through the objects naming them."""
    if actor.user_id not in ids:
        return []
    return [await User.get(id=actor.user_id)]


async def create_api_key(actor: Actor, *, name: str, scope: ApiScope) -> tuple[ApiKey, str]:
    """ADMIN staff create a key for their marketplace; the secret is shown once."""
    marketplace_id = actor.require_staff(admin=True)
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise UserError(
            AccountErrorCode.INVALID, _("Name must be 1 to 100 characters."), field="name"
        )
    prefix = random_token(9)[:12].replace("_", "x").replace("-", "y")
    secret = random_token(32)
    async with atomic():
        key = await ApiKey.create(
            marketplace_id=marketplace_id,
            name=name,
            prefix=prefix,
            secret_hash=sha256_hex(secret),
            scope=scope,
            created_by_id=actor.user_id,
        )
    return key, f"{API_KEY_PREFIX}{prefix}_{secret}"


async def revoke_api_key(actor: Actor, *, key_id: int) -> ApiKey:
    marketplace_id = actor.require_staff(admin=True)
    key = await ApiKey.get_or_none(id=key_id, marketplace_id=marketplace_id)
    if key is None:
        raise not_found(_("API key"))
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        await key.save(update_fields=["revoked_at"])
    return key


async def list_api_keys(actor: Actor) -> list[ApiKey]:
    marketplace_id = actor.require_staff(admin=True)
    return await ApiKey.filter(marketplace_id=marketplace_id).order_by("-id")


async def visible_api_keys(actor: Actor, ids: list[int]) -> list[ApiKey]:
    """Only ADMIN staff see their marketplace's keys."""
    if not actor.is_admin:
        return []
    return await ApiKey.filter(id__in=ids, marketplace_id=actor.marketplace_id)


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# The viewer is the actor itself: its flags and roles are parameters, its user its own row.


def _viewer(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    if not b.kind.authenticated:
        return "NULL::json"
    return b.object("Viewer", "", s.selection_set)


def _viewer_user(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    # Read with the roles while authenticating this very request (``Profile``), as the
    # standard executor reads it: no table.
    if not b.kind.user:
        return "NULL::json"
    user = b.alias()
    me = b.param(lambda inputs: _profile(inputs).user_id, "bigint")
    email = b.param(lambda inputs: _profile(inputs).email, "text")
    name = b.param(lambda inputs: _profile(inputs).full_name, "text")
    body = b.object("User", user, s.selection_set)
    return f"(SELECT {body} FROM (VALUES ({me}, {email}, {name})) AS {user}(id, email, full_name))"


def _profile(inputs: compiled.Inputs) -> Profile:
    profile = inputs.profile
    if profile is None or profile.user_id != inputs.actor.user_id:
        raise compiled.Fallback("no profile read with this request's authentication")
    return profile


def _viewer_flag(b: compiled.Builder, _alias: str, _s: compiled.Selected) -> str:
    return b.param(lambda inputs: inputs.actor.is_platform_admin, "boolean")


def _viewer_marketplace(b: compiled.Builder, _alias: str, _s: compiled.Selected) -> str:
    return compiled.global_id("Marketplace", b.param(lambda i: i.actor.marketplace_id, "bigint"))


def _viewer_roles(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    role = b.alias()
    marketplaces = b.param(lambda i: [g.marketplace_id for g in i.actor.roles], "bigint[]")
    names = b.param(lambda i: [g.role for g in i.actor.roles], "text[]")
    body = b.object("MarketplaceRole", role, s.selection_set)
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {role}.n) FROM unnest({marketplaces}, "
        f"{names}) WITH ORDINALITY AS {role}(marketplace_id, role, n)), '[]'::json)"
    )


compiled.declare_type(
    "User",
    {
        "id": compiled.node_id("User"),
        "email": compiled.column("{t}.email"),
        "fullName": compiled.column("{t}.full_name"),
    },
)
compiled.declare_type(
    "Viewer",
    {
        "user": _viewer_user,
        "isPlatformAdmin": _viewer_flag,
        "actingMarketplaceId": _viewer_marketplace,
        "roles": _viewer_roles,
    },
)
compiled.declare_type(
    "MarketplaceRole",
    {
        "marketplaceId": compiled.node_id("Marketplace", "{t}.marketplace_id"),
        "role": compiled.column("{t}.role"),
    },
)
compiled.declare_root("viewer", _viewer, table_free=True)
