"""A marketplace's staff: who holds a role, changing it, removing it.

Access follows the rows at once: every request builds its actor from the staff roles stored
(``resolvers.authentication``), so a removed member's next request acts without the role, and
its open subscriptions stop delivering (``still_staff``, checked per event). Its
sessions stay valid for its other roles (a person may be provider or client elsewhere). API
keys and webhook endpoints it created belong to the marketplace and keep working: an ADMIN
revokes them if they should not.
"""

from __future__ import annotations

from models.account import StaffMember, StaffRole
from models.marketplace import Marketplace
from presta.i18n import _
from presta.tx import AfterCommit, atomic
from resolvers.actor import Actor
from resolvers.errors import UserError, not_found
from resolvers.events import record_event, staff_audience
from resolvers.marketplace import MarketplaceErrorCode

STAFF_UPDATED = "staff.updated"


async def still_staff(actor: Actor) -> bool:
    """Whether a staff actor built earlier (an open subscription's) still holds its role."""
    if actor.staff_role is None or actor.user_id is None:
        return True
    return await StaffMember.exists(
        user_id=actor.user_id, marketplace_id=actor.marketplace_id, role=actor.staff_role
    )


async def list_staff(actor: Actor) -> list[StaffMember]:
    """The staff of the acting marketplace, ADMINs first, for its staff."""
    marketplace_id = actor.require_staff()
    members = await StaffMember.filter(marketplace_id=marketplace_id).select_related("user")
    return sorted(members, key=lambda m: (m.role is not StaffRole.ADMIN, m.id))


async def _lock_member(marketplace_id: int, email: str) -> StaffMember:
    # Role changes queue on the marketplace row: two ADMINs demoting each other at the same
    # moment cannot both pass the last-admin check.
    await Marketplace.filter(id=marketplace_id).select_for_update().get()
    member = (
        await StaffMember.filter(marketplace_id=marketplace_id, user__email=email.strip().lower())
        .select_related("user")
        .first()
    )
    if member is None:
        raise not_found(_("Staff member"), field="email")
    return member


async def _keep_an_admin(member: StaffMember) -> None:
    if member.role is not StaffRole.ADMIN:
        return
    others = (
        await StaffMember.filter(marketplace_id=member.marketplace_id, role=StaffRole.ADMIN)
        .exclude(id=member.id)
        .exists()
    )
    if not others:
        raise UserError(
            MarketplaceErrorCode.LAST_ADMIN,
            _("A marketplace keeps at least one ADMIN: make someone else ADMIN first."),
            field="email",
        )


async def change_staff_role(actor: Actor, *, email: str, role: StaffRole) -> StaffMember:
    """ADMIN staff change a member's role; the last ADMIN stays one."""
    marketplace_id = actor.require_staff(admin=True)
    async with atomic() as tx:
        member = await _lock_member(marketplace_id, email)
        if member.role is not role:
            if role is not StaffRole.ADMIN:
                await _keep_an_admin(member)
            member.role = role
            await member.save(update_fields=["role"])
            await _record(tx, member, "role_changed")
    return member


async def remove_staff_member(actor: Actor, *, email: str) -> StaffMember:
    """ADMIN staff remove a member (themselves included), never the last ADMIN; the person
    loses the role from its next request on."""
    marketplace_id = actor.require_staff(admin=True)
    async with atomic() as tx:
        member = await _lock_member(marketplace_id, email)
        await _keep_an_admin(member)
        await _record(tx, member, "removed")
        await member.delete()
    return member


async def _record(tx: AfterCommit, member: StaffMember, change: str) -> None:
    await record_event(
        tx,
        topic=STAFF_UPDATED,
        marketplace_id=member.marketplace_id,
        object_type="User",
        object_id=member.user_id,
        audience=[staff_audience(member.marketplace_id), f"user:{member.user_id}"],
        payload={"change": change, "role": str(member.role)},
    )
