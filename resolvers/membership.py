"""The provider relationship: reading memberships, and their lifecycle transitions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from models.catalog import ProviderService
from models.dispatch import RequestStatus, ServiceRequest
from models.document import Document, DocumentKind
from models.intervention import Intervention, InterventionStatus
from models.membership import Membership, MembershipAudit, MembershipStatus
from presta import clock
from presta.statements import select
from presta.tx import AfterCommit, atomic
from resolvers.actor import Actor
from resolvers.dispatch.proposal import withdraw_provider
from resolvers.document import current_terms_version
from resolvers.errors import UserError, not_found
from resolvers.events import record_event, staff_audience
from resolvers.pagination import Page, keyset_page

MEMBERSHIP_UPDATED = "membership.updated"
MAX_REASON_LENGTH = 2000

S = MembershipStatus
LIVE_INTERVENTIONS = (InterventionStatus.SCHEDULED, InterventionStatus.IN_PROGRESS)
EXPIRING_SOON_DAYS = 30


class MembershipErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    INTERVENTIONS_PENDING = "INTERVENTIONS_PENDING"
    APPLICATION_INCOMPLETE = "APPLICATION_INCOMPLETE"
    REASON_REQUIRED = "REASON_REQUIRED"


class DocumentExpiry(StrEnum):
    EXPIRED = "EXPIRED"
    EXPIRING_SOON = "EXPIRING_SOON"


def can_see(actor: Actor, membership: Membership) -> bool:
    """Staff and partners of its marketplace; users of its company acting in that marketplace."""
    if actor.marketplace_id != membership.marketplace_id:  # type: ignore[attr-defined]
        return False
    if actor.sees_whole_marketplace:
        return True
    return actor.company_id is not None and actor.company_id == membership.company_id  # type: ignore[attr-defined]


async def visible_memberships(actor: Actor, ids: Iterable[int]) -> list[Membership]:
    wanted = list(ids)
    if actor.marketplace_id is None or not wanted:
        return []
    rows = await Membership.filter(
        id__in=wanted, marketplace_id=actor.marketplace_id
    ).select_related("company", "marketplace")
    return [m for m in rows if can_see(actor, m)]


async def my_memberships(actor: Actor) -> list[Membership]:
    """A provider user's files: in the acting marketplace, or in every one when none is named."""
    actor.require_user()
    if actor.company_id is None:
        return []
    company_id, marketplace_id = actor.company_id, actor.marketplace_id

    def files() -> QuerySet[Membership]:
        query = Membership.filter(company_id=company_id).exclude(status=S.DELETED)
        if marketplace_id is not None:
            query = query.filter(marketplace_id=marketplace_id)
        return query.select_related("company", "marketplace").order_by("id")

    # Asked by every provider app on opening: its SQL is built once (presta.statements).
    if marketplace_id is None:
        return await select("my files", [company_id, S.DELETED.value], files)
    return await select("my files here", [company_id, S.DELETED.value, marketplace_id], files)


async def list_providers(
    actor: Actor,
    *,
    status: MembershipStatus | None = None,
    service_id: int | None = None,
    text: str | None = None,
    document_expiry: DocumentExpiry | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Membership]:
    """Staff list the marketplace's providers, newest first; DELETED only when asked for."""
    marketplace_id = actor.require_reader()
    query = Membership.filter(marketplace_id=marketplace_id)
    query = query.filter(status=status) if status else query.exclude(status=S.DELETED)
    if service_id is not None:
        applied = await ProviderService.filter(
            service_id=service_id, service__marketplace_id=marketplace_id
        ).values_list("membership_id", flat=True)
        query = query.filter(id__in=_ids(applied))
    if text and text.strip():
        words = text.strip()
        query = query.filter(
            Q(company__name__icontains=words)
            | Q(company__email__icontains=words)
            | Q(company__siret__startswith=words.replace(" ", ""))
        )
    if document_expiry is not None:
        companies = await _companies_with_expiry(marketplace_id, document_expiry)
        query = query.filter(company_id__in=sorted(companies))
    page = await keyset_page(
        query.select_related("company", "marketplace"),
        first=first,
        after=after,
        last=last,
        before=before,
    )
    return page


def _ids(rows: Iterable[Any]) -> list[int]:
    return sorted({int(r) for r in rows})


async def _companies_with_expiry(marketplace_id: int, expiry: DocumentExpiry) -> set[int]:
    """Companies whose latest document of some type expired, or expires within 30 days."""
    rows = await Document.filter(
        kind=DocumentKind.COMPANY,
        deleted_at__isnull=True,
        expires_on__isnull=False,
        company__memberships__marketplace_id=marketplace_id,
    ).values_list("company_id", "document_type_id", "expires_on")
    latest: dict[tuple[int, int], date] = {}
    for company_id, type_id, expires_on in rows:
        key = (int(company_id), int(type_id or 0))
        if key not in latest or expires_on > latest[key]:
            latest[key] = expires_on
    today = clock.now().date()
    soon = today + timedelta(days=EXPIRING_SOON_DAYS)
    if expiry is DocumentExpiry.EXPIRED:
        return {c for (c, _), d in latest.items() if d <= today}
    return {c for (c, _), d in latest.items() if today < d <= soon}


async def provider_counts(actor: Actor) -> dict[MembershipStatus, int]:
    """Staff: how many providers the marketplace has in each status."""
    marketplace_id = actor.require_reader()
    rows = (
        await Membership.filter(marketplace_id=marketplace_id)
        .annotate(n=Count("id"))
        .group_by("status")
        .values_list("status", "n")
    )
    counts = dict.fromkeys(MembershipStatus, 0)
    for status, n in rows:
        counts[MembershipStatus(status)] = int(n)
    return counts


async def must_accept_terms(membership: Membership) -> bool:
    """True while a published terms version is newer than the one the provider accepted."""
    current = await current_terms_version(membership.marketplace_id)  # type: ignore[attr-defined]
    if current is None:
        return False
    return (membership.terms_version_accepted or 0) < current


async def audit_entries(actor: Actor, membership: Membership) -> list[MembershipAudit] | None:
    """Staff read the whole trail; providers do not see it (None)."""
    if not actor.sees_whole_marketplace or not can_see(actor, membership):
        return None
    return (
        await MembershipAudit.filter(membership_id=membership.id)
        .select_related("actor")
        .order_by("id")
    )


# --- transitions ----------------------------------------------------------------------------


async def transition(
    actor: Actor,
    tx: AfterCommit,
    membership: Membership,
    *,
    allowed_from: tuple[MembershipStatus, ...],
    to: MembershipStatus,
    action: str,
    reason: str = "",
) -> Membership:
    """Move a membership locked FOR UPDATE; audit it and tell staff and the provider."""
    before = membership.status
    if before not in allowed_from:
        raise UserError(
            MembershipErrorCode.ILLEGAL_TRANSITION,
            f"Cannot {action} a provider whose membership is {before.value}.",
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
    return membership


async def record_membership_event(tx: AfterCommit, membership: Membership) -> None:
    marketplace_id: int = membership.marketplace_id  # type: ignore[attr-defined]
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
        raise not_found("Membership", field="membershipId")
    await membership.fetch_related("company", "marketplace")
    return membership


def clean_reason(reason: str, *, required: bool = False) -> str:
    reason = reason.strip()
    if required and not reason:
        raise UserError(
            MembershipErrorCode.REASON_REQUIRED, "Give the provider a reason.", field="reason"
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise UserError(
            MembershipErrorCode.INVALID,
            f"The reason is at most {MAX_REASON_LENGTH} characters.",
            field="reason",
        )
    return reason


async def _ensure_no_live_interventions(membership: Membership, action: str) -> None:
    """Refuse while a visit is upcoming or in progress, or a client accepted this provider
    and no visit was scheduled yet (the work is upcoming, only not dated)."""
    marketplace_id: int = membership.marketplace_id  # type: ignore[attr-defined]
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
        listed = "; ".join(
            [
                f"intervention {i.id} ({i.status.value}, starts {i.starts_at:%Y-%m-%d %H:%M} "
                f"UTC, client {i.client.full_name})"
                for i in live
            ]
            + [
                f"request {r.id} (accepted, no visit scheduled yet, client {r.client.full_name})"
                for r in unscheduled
            ]
        )
        raise UserError(
            MembershipErrorCode.INTERVENTIONS_PENDING,
            f"Cannot {action} while interventions are in progress or upcoming: {listed}.",
            field="membershipId",
        )


async def _staff_transition(
    actor: Actor,
    membership_id: int,
    *,
    allowed_from: tuple[MembershipStatus, ...],
    to: MembershipStatus,
    action: str,
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
        action="suspend",
        reason=reason,
    )


async def reinstate_provider(actor: Actor, *, membership_id: int, reason: str = "") -> Membership:
    """Staff reinstate a SUSPENDED provider to ACCEPTED."""
    return await _staff_transition(
        actor,
        membership_id,
        allowed_from=(S.SUSPENDED,),
        to=S.ACCEPTED,
        action="reinstate",
        reason=reason,
    )


async def deactivate_provider(actor: Actor, *, membership_id: int, reason: str = "") -> Membership:
    """Staff deactivate an ACCEPTED or SUSPENDED provider with no live intervention here."""
    return await _staff_transition(
        actor,
        membership_id,
        allowed_from=(S.ACCEPTED, S.SUSPENDED),
        to=S.DEACTIVATED,
        action="deactivate",
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
        action="reactivate",
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
        action="delete",
        reason=reason,
        guard_interventions=True,
    )
