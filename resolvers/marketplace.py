"""Marketplaces (tenants): creation by the platform admin, reading by their members."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache

from models.account import StaffMember, StaffRole, User
from models.marketplace import Marketplace
from presta import clock, db
from presta.i18n import _
from presta.security import hash_password, random_token
from presta.settings import settings
from presta.tx import atomic
from resolvers.account import _check_password, normalize_email
from resolvers.actor import Actor
from resolvers.errors import UserError, UserErrors, not_found
from resolvers.events import record_event, staff_audience
from resolvers.pagination import Page, keyset_page

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class MarketplaceErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    SLUG_TAKEN = "SLUG_TAKEN"
    INVALID_EMAIL = "INVALID_EMAIL"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    LAST_ADMIN = "LAST_ADMIN"


async def create_marketplace(
    actor: Actor,
    *,
    name: str,
    slug: str,
    admin_email: str,
    admin_full_name: str = "",
    admin_password: str | None = None,
) -> Marketplace:
    """Platform admins create a marketplace with its first ADMIN (an existing or new user)."""
    actor.require_platform_admin()
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise UserError(
            MarketplaceErrorCode.INVALID, _("Name must be 1 to 200 characters."), field="name"
        )
    if not _SLUG.match(slug):
        raise UserError(
            MarketplaceErrorCode.INVALID,
            _("Slug must be lower-case letters, digits and dashes (at most 64)."),
            field="slug",
        )
    email = normalize_email(admin_email, field="adminEmail")
    async with atomic():
        if await Marketplace.filter(slug=slug).exists():
            raise UserError(MarketplaceErrorCode.SLUG_TAKEN, _("Slug already used."), field="slug")
        user = await User.get_or_none(email=email)
        if user is None:
            if admin_password is None:
                raise UserError(
                    MarketplaceErrorCode.INVALID,
                    _("No account for this e-mail: give the new admin a password."),
                    field="adminPassword",
                )
            _check_password(admin_password)
            user = await User.create(
                email=email,
                password_hash=hash_password(admin_password),
                full_name=admin_full_name.strip(),
            )
        marketplace = await Marketplace.create(name=name, slug=slug)
        await StaffMember.create(user=user, marketplace=marketplace, role=StaffRole.ADMIN)
    return marketplace


async def get_marketplace(actor: Actor, marketplace_id: int) -> Marketplace:
    """Visible to the platform admin and to anyone with a role in it."""
    if actor.is_platform_admin or any(g.marketplace_id == marketplace_id for g in actor.roles):
        marketplace = await Marketplace.get_or_none(id=marketplace_id)
        if marketplace is not None:
            return marketplace
    raise not_found(_("Marketplace"))


async def visible_marketplaces(actor: Actor, ids: Iterable[int]) -> list[Marketplace]:
    """The marketplaces among ``ids`` that the actor may see (``node`` lookups)."""
    wanted = set(ids)
    if not actor.is_platform_admin:
        wanted &= {g.marketplace_id for g in actor.roles}
    return await Marketplace.filter(id__in=list(wanted)).order_by("id") if wanted else []


async def list_marketplaces(
    actor: Actor,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Marketplace]:
    """Platform admins page through every marketplace; others through those they have a role in."""
    if actor.is_platform_admin:
        query = Marketplace.all()
    else:
        query = Marketplace.filter(id__in=list({g.marketplace_id for g in actor.roles}))
    return await keyset_page(
        query, first=first, after=after, last=last, before=before, newest_first=False
    )


async def add_staff_member(actor: Actor, *, email: str, role: StaffRole) -> StaffMember:
    """ADMIN staff grant a staff role to an existing account."""
    marketplace_id = actor.require_staff(admin=True)
    normalized = normalize_email(email)
    async with atomic():
        user = await User.get_or_none(email=normalized)
        if user is None:
            raise not_found(_("Account"), field="email")
        # Role changes queue on the marketplace row (see resolvers.staff).
        await Marketplace.filter(id=marketplace_id).select_for_update().get()
        member, created = await StaffMember.get_or_create(
            user=user, marketplace_id=marketplace_id, defaults={"role": role}
        )
        if not created and member.role is not role:
            if (
                member.role is StaffRole.ADMIN
                and not await StaffMember.filter(
                    marketplace_id=marketplace_id, role=StaffRole.ADMIN
                )
                .exclude(id=member.id)
                .exists()
            ):
                raise UserError(
                    MarketplaceErrorCode.LAST_ADMIN,
                    _("A marketplace keeps at least one ADMIN: make someone else ADMIN first."),
                    field="role",
                )
            member.role = role
            await member.save(update_fields=["role"])
    return member


async def marketplace_id_from_header(value: str) -> int | None:
    """The marketplace a request names (``X-Marketplace``): its global ID or its slug; None
    when no marketplace has that name."""
    from strawberry import relay

    key: tuple[str, str | int] | None = None
    try:
        gid = relay.GlobalID.from_id(value)
        if gid.type_name == "Marketplace" and _ID.fullmatch(gid.node_id):
            key = ("id", int(gid.node_id))
    except Exception:
        pass
    if key is None:
        slug = value.strip().lower()
        if "\x00" in slug:  # PostgreSQL stores no such text: no marketplace has it
            return None
        key = ("slug", slug)
    kept = _found.get(key)
    if kept is not None and clock.now() < kept[1]:
        return kept[0]
    found = await db.rows(_LOOKUP[key[0]], value=key[1])
    if not found:
        return None
    marketplace_id = int(found[0]["id"])
    _found[key] = (marketplace_id, clock.now() + SLUG_KEPT)
    return marketplace_id


_LOOKUP = {
    "id": "SELECT id FROM marketplace WHERE id = :value",
    "slug": "SELECT id FROM marketplace WHERE slug = :value",
}
# An id column is a 32-bit integer: a longer number names no marketplace (and is not sent).
_ID = re.compile(r"[1-9][0-9]{0,8}")
# Most requests name their marketplace by slug. A slug never changes and no operation deletes
# a marketplace, so the id found for a name is kept a minute and those requests skip the
# lookup; one removed by hand is forgotten within the minute. Unknown names are not kept, and
# only marketplaces that exist are, so the table stays as small as the list of marketplaces.
SLUG_KEPT = timedelta(minutes=1)
_found: dict[tuple[str, str | int], tuple[int, datetime]] = {}


def forget_slugs() -> None:
    """Forget the names found (tests: the database is emptied under the process)."""
    _found.clear()


# Ranges of the dispatch settings: (input field, model attribute, lowest, highest).
_DISPATCH_RANGES = (
    ("proposalsRequired", "proposals_required", 1, 50),
    ("daysBeforeSending", "days_before_sending", 0, 90),
    ("daysBeforeReminder", "days_before_reminder", 1, 90),
    ("maxReminderRounds", "max_reminder_rounds", 0, 20),
)


async def update_dispatch_settings(
    actor: Actor,
    *,
    dispatch_enabled: bool | None = None,
    proposals_required: int | None = None,
    days_before_sending: int | None = None,
    days_before_reminder: int | None = None,
    max_reminder_rounds: int | None = None,
) -> Marketplace:
    """ADMIN staff change the assignment mode and timers; any value out of range changes nothing."""
    marketplace_id = actor.require_staff(admin=True)
    given = {
        "proposals_required": proposals_required,
        "days_before_sending": days_before_sending,
        "days_before_reminder": days_before_reminder,
        "max_reminder_rounds": max_reminder_rounds,
    }
    errors = [
        UserError(
            MarketplaceErrorCode.OUT_OF_RANGE,
            _("{field} must be between {low} and {high}.", field=field, low=low, high=high),
            field=field,
        )
        for field, attr, low, high in _DISPATCH_RANGES
        if given[attr] is not None and not low <= given[attr] <= high  # type: ignore[operator]
    ]
    if errors:
        raise UserErrors(errors)
    async with atomic():
        marketplace = await Marketplace.filter(id=marketplace_id).select_for_update().get()
        changed = [attr for attr, value in given.items() if value is not None]
        for attr in changed:
            setattr(marketplace, attr, given[attr])
        if dispatch_enabled is not None:
            marketplace.dispatch_enabled = dispatch_enabled
            changed.append("dispatch_enabled")
        if changed:
            await marketplace.save(update_fields=changed)
    return marketplace


MAX_TERMS_GRACE_DAYS = 365
MARKETPLACE_UPDATED = "marketplace.updated"


def public_application_link(marketplace: Marketplace) -> str | None:
    """The link through which providers apply uninvited, while public applications are on."""
    token = marketplace.public_application_token
    if not marketplace.public_applications_enabled or token is None:
        return None
    return f"{settings().public_url}/apply?marketplace={token}"


async def update_marketplace_settings(
    actor: Actor,
    *,
    default_commission_rate: Decimal | None = None,
    terms_grace_days: int | None = None,
    public_applications_enabled: bool | None = None,
    new_public_application_link: bool = False,
    time_zone: str | None = None,
) -> Marketplace:
    """ADMIN staff change the default commission, the grace period of new terms, whether
    providers may apply uninvited and the time zone of its e-mails; any value out of range
    changes nothing."""
    marketplace_id = actor.require_staff(admin=True)
    errors: list[UserError] = []
    rate = None
    if default_commission_rate is not None:
        rate = _rate(default_commission_rate)
        if rate is None:
            errors.append(
                UserError(
                    MarketplaceErrorCode.OUT_OF_RANGE,
                    _("defaultCommissionRate must be between 0 and 100 (percent)."),
                    field="defaultCommissionRate",
                )
            )
    if terms_grace_days is not None and not 0 <= terms_grace_days <= MAX_TERMS_GRACE_DAYS:
        errors.append(
            UserError(
                MarketplaceErrorCode.OUT_OF_RANGE,
                _("termsGracePeriodDays must be between 0 and {most}.", most=MAX_TERMS_GRACE_DAYS),
                field="termsGracePeriodDays",
            )
        )
    if time_zone is not None and time_zone not in _time_zones():
        errors.append(
            UserError(
                MarketplaceErrorCode.INVALID,
                _("timeZone must be an IANA time zone name, such as Europe/Paris."),
                field="timeZone",
            )
        )
    if errors:
        raise UserErrors(errors)
    async with atomic() as tx:
        marketplace = await Marketplace.filter(id=marketplace_id).select_for_update().get()
        changed: list[str] = []
        if time_zone is not None:
            marketplace.time_zone = time_zone
            changed.append("time_zone")
        if rate is not None:
            marketplace.default_commission_rate = rate
            changed.append("default_commission_rate")
        if terms_grace_days is not None:
            marketplace.terms_grace_days = terms_grace_days
            changed.append("terms_grace_days")
        if public_applications_enabled is not None:
            marketplace.public_applications_enabled = public_applications_enabled
            changed.append("public_applications_enabled")
        if marketplace.public_applications_enabled and (
            new_public_application_link or marketplace.public_application_token is None
        ):
            # A new token retires the old link: staff do so when it leaked where it should not.
            marketplace.public_application_token = random_token(24)
            changed.append("public_application_token")
        if changed:
            await marketplace.save(update_fields=changed)
            await record_event(
                tx,
                topic=MARKETPLACE_UPDATED,
                marketplace_id=marketplace_id,
                object_type="Marketplace",
                object_id=marketplace_id,
                audience=[staff_audience(marketplace_id)],
                payload={"changed": sorted(changed)},
            )
    return marketplace


def _rate(value: Decimal) -> Decimal | None:
    try:
        quantized = value.quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    if not value.is_finite() or not Decimal(0) <= quantized <= Decimal(100):
        return None
    return quantized


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
