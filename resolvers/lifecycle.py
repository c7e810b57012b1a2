"""A provider's file through its life: staff suspend, reinstate, deactivate, reactivate or
delete it; every change is audited and told to staff and the provider."""

from __future__ import annotations

from tortoise.expressions import Subquery

from models.dispatch import RequestStatus, ServiceRequest
from models.intervention import Intervention, InterventionStatus
from models.membership import Membership, MembershipAudit, MembershipStatus
from presta import clock
from presta.i18n import Join, Text, _
from presta.tx import AfterCommit, atomic
from resolvers.actor import Actor
from resolvers.dispatch.proposal import withdraw_provider
from resolvers.errors import UserError, not_found
from resolvers.events import record_event, staff_audience
from resolvers.membership import MEMBERSHIP_UPDATED, MembershipErrorCode

MAX_REASON_LENGTH = 2000

S = MembershipStatus
LIVE_INTERVENTIONS = (InterventionStatus.SCHEDULED, InterventionStatus.IN_PROGRESS)


async def transition(
    actor: Actor,
    tx: AfterCommit,
    membership: Membership,
    *,
    allowed_from: tuple[MembershipStatus, ...],
    to: MembershipStatus,
    action: Text,
    reason: str = "",
) -> Membership:
    """Move a membership locked FOR UPDATE; audit it and tell staff and the provider."""
    before = membership.status
    if before not in allowed_from:
        raise UserError(
            MembershipErrorCode.ILLEGAL_TRANSITION,
            _(
                "Cannot {action} a provider whose membership is {status}.",
                action=action,
                status=before.value,
            ),
            field="membershipId",
        )
    now = clock.now()
    membership.status = to
    changed = ["status", "updated_at"]
    if to is S.APPLIED:
        membership.applied_at = now
        changed.append("applied_at")
    if before is S.APPLIED and to in (S.ACCEPTED, S.REFUSED):
        membership.decided_at = now
        changed.append("decided_at")
    await membership.save(update_fields=changed)
    audit = await MembershipAudit.create(
        membership=membership,
        actor_id=actor.user_id,
        from_status=before,
        to_status=to,
        reason=reason,
    )
    await record_membership_event(tx, membership)
    tx.enqueue("notify_membership_change", audit_id=audit.id)
    if to is S.APPLIED:
        tx.enqueue(
            "send_notification",
            kind="APPLICATION_RECEIVED",
            key=f"application:{audit.id}",
            object_id=membership.id,
        )
    return membership


async def record_membership_event(tx: AfterCommit, membership: Membership) -> None:
    marketplace_id: int = membership.marketplace_id
    await record_event(
        tx,
        topic=MEMBERSHIP_UPDATED,
        marketplace_id=marketplace_id,
        object_type="Membership",
        object_id=membership.id,
        audience=[staff_audience(marketplace_id), f"membership:{membership.id}"],
    )


async def lock_membership(marketplace_id: int, membership_id: int) -> Membership:
    membership = (
        await Membership.filter(id=membership_id, marketplace_id=marketplace_id)
        .select_for_update()
        .first()
    )
    if membership is None:
        raise not_found(_("Membership"), field="membershipId")
    await membership.fetch_related("company", "marketplace")
    return membership


def clean_reason(reason: str, *, required: bool = False) -> str:
    reason = reason.strip()
    if required and not reason:
        raise UserError(
            MembershipErrorCode.REASON_REQUIRED, _("Give the provider a reason."), field="reason"
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise UserError(
            MembershipErrorCode.INVALID,
            _("The reason is at most {most} characters.", most=MAX_REASON_LENGTH),
            field="reason",
        )
    return reason


async def _ensure_no_live_interventions(membership: Membership, action: Text) -> None:
    """Refuse while a visit is upcoming or in progress, or a client accepted this provider
    and no visit was scheduled yet (the work is upcoming, only not dated)."""
    marketplace_id = membership.marketplace_id
    live = (
        await Intervention.filter(
            membership_id=membership.id,
            marketplace_id=marketplace_id,
            status__in=LIVE_INTERVENTIONS,
        )
        .select_related("client")
        .order_by("starts_at", "id")
    )
    unscheduled = (
        await ServiceRequest.filter(
            marketplace_id=marketplace_id,
            selected_membership_id=membership.id,
            status=RequestStatus.ACCEPTED,
        )
        .exclude(
            id__in=Subquery(
                Intervention.filter(membership_id=membership.id, request_id__isnull=False).values(
                    "request_id"
                )
            )
        )
        .select_related("client")
        .order_by("id")
    )
    if live or unscheduled:
        listed = Join(
            "; ",
            [
                _(
                    "intervention {id} ({status}, starts {start:%Y-%m-%d %H:%M} UTC, "
                    "client {client})",
                    id=i.id,
                    status=i.status.value,
                    start=i.starts_at,
                    client=i.client.full_name,
                )
                for i in live
            ]
            + [
                _(
                    "request {id} (accepted, no visit scheduled yet, client {client})",
                    id=r.id,
                    client=r.client.full_name,
                )
                for r in unscheduled
            ],
        )
        raise UserError(
            MembershipErrorCode.INTERVENTIONS_PENDING,
            _(
                "Cannot {action} while interventions are in progress or upcoming: {listed}.",
                action=action,
                listed=listed,
            ),
            field="membershipId",
        )


async def _staff_transition(
    actor: Actor,
    membership_id: int,
    *,
    allowed_from: tuple[MembershipStatus, ...],
    to: MembershipStatus,
    action: Text,
    reason: str,
    reason_required: bool = False,
    guard_interventions: bool = False,
) -> Membership:
    marketplace_id = actor.require_staff()
    reason = clean_reason(reason, required=reason_required)
    async with atomic() as tx:
        membership = await lock_membership(marketplace_id, membership_id)
        if guard_interventions and membership.status in allowed_from:
            await _ensure_no_live_interventions(membership, action)
        if to is not S.ACCEPTED and membership.status in allowed_from:
            await withdraw_provider(tx, membership_id=membership.id, by=actor.user_id)
        return await transition(
            actor, tx, membership, allowed_from=allowed_from, to=to, action=action, reason=reason
        )


async def suspend_provider(actor: Actor, *, membership_id: int, reason: str = "") -> Membership:
    """Staff suspend an ACCEPTED provider: it receives no new requests until reinstated."""
    return await _staff_transition(
        actor,
        membership_id,
        allowed_from=(S.ACCEPTED,),
        to=S.SUSPENDED,
        action=_("suspend"),
        reason=reason,
    )


async def reinstate_provider(actor: Actor, *, membership_id: int, reason: str = "") -> Membership:
    """Staff reinstate a SUSPENDED provider to ACCEPTED."""
    return await _staff_transition(
        actor,
        membership_id,
        allowed_from=(S.SUSPENDED,),
        to=S.ACCEPTED,
        action=_("reinstate"),
        reason=reason,
    )


async def deactivate_provider(actor: Actor, *, membership_id: int, reason: str = "") -> Membership:
    """Staff deactivate an ACCEPTED or SUSPENDED provider with no live intervention here."""
    return await _staff_transition(
        actor,
        membership_id,
        allowed_from=(S.ACCEPTED, S.SUSPENDED),
        to=S.DEACTIVATED,
        action=_("deactivate"),
        reason=reason,
        guard_interventions=True,
    )


async def reactivate_provider(actor: Actor, *, membership_id: int, reason: str = "") -> Membership:
    """Staff bring a DEACTIVATED provider back to ACCEPTED."""
    return await _staff_transition(
        actor,
        membership_id,
        allowed_from=(S.DEACTIVATED,),
        to=S.ACCEPTED,
        action=_("reactivate"),
        reason=reason,
    )


async def delete_provider_relationship(
    actor: Actor, *, membership_id: int, reason: str = ""
) -> Membership:
    """Staff end the relationship from any state (kept for audit) with no live intervention."""
    return await _staff_transition(
        actor,
        membership_id,
        allowed_from=tuple(s for s in S if s is not S.DELETED),
        to=S.DELETED,
        action=_("delete"),
        reason=reason,
        guard_interventions=True,
    )
