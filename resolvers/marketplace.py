"""Marketplaces (tenants): creation by the platform admin, reading by their members."""

from __future__ import annotations

import re
from enum import StrEnum

from models.account import StaffMember, StaffRole, User
from models.marketplace import Marketplace
from presta.security import hash_password
from presta.tx import atomic
from resolvers.account import _check_password, normalize_email
from resolvers.actor import Actor
from resolvers.errors import UserError, not_found

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class MarketplaceErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    SLUG_TAKEN = "SLUG_TAKEN"
    INVALID_EMAIL = "INVALID_EMAIL"
    WEAK_PASSWORD = "WEAK_PASSWORD"


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
            MarketplaceErrorCode.INVALID, "Name must be 1 to 200 characters.", field="name"
        )
    if not _SLUG.match(slug):
        raise UserError(
            MarketplaceErrorCode.INVALID,
            "Slug must be lower-case letters, digits and dashes (at most 64).",
            field="slug",
        )
    email = normalize_email(admin_email, field="adminEmail")
    async with atomic():
        if await Marketplace.filter(slug=slug).exists():
            raise UserError(MarketplaceErrorCode.SLUG_TAKEN, "Slug already used.", field="slug")
        user = await User.get_or_none(email=email)
        if user is None:
            if admin_password is None:
                raise UserError(
                    MarketplaceErrorCode.INVALID,
                    "No account for this e-mail: give the new admin a password.",
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
    raise not_found("Marketplace")


async def visible_marketplaces(actor: Actor) -> list[Marketplace]:
    if actor.is_platform_admin:
        return await Marketplace.all().order_by("id")
    ids = {g.marketplace_id for g in actor.roles}
    return await Marketplace.filter(id__in=ids).order_by("id") if ids else []


async def add_staff_member(actor: Actor, *, email: str, role: StaffRole) -> StaffMember:
    """ADMIN staff grant a staff role to an existing account."""
    marketplace_id = actor.require_staff(admin=True)
    normalized = normalize_email(email)
    async with atomic():
        user = await User.get_or_none(email=normalized)
        if user is None:
            raise not_found("Account", field="email")
        member, created = await StaffMember.get_or_create(
            user=user, marketplace_id=marketplace_id, defaults={"role": role}
        )
        if not created and member.role is not role:
            member.role = role
            await member.save(update_fields=["role"])
    return member


async def marketplace_id_from_header(value: str) -> int | None:
    """The acting marketplace named by a request: its global ID or its slug."""
    from strawberry import relay

    try:
        gid = relay.GlobalID.from_id(value)
        if gid.type_name == "Marketplace" and gid.node_id.isdigit():
            return int(gid.node_id)
    except Exception:
        pass
    found = await Marketplace.get_or_none(slug=value.strip().lower())
    # An unknown marketplace is not an error here: the actor simply has no acting marketplace.
    return found.id if found is not None else None
