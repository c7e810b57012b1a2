"""Interventions: the visits of the chosen provider, from scheduling to done or cancelled.

Reading them (who sees one, the list and the tab) is in ``resolvers.intervention_listing``."""

from __future__ import annotations

import calendar
import uuid
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from models.dispatch import Frequency, RequestStatus, ServiceRequest
from models.intervention import Intervention, InterventionStatus
from presta import clock
from presta.i18n import Text, _
from presta.tx import AfterCommit, atomic
from resolvers.actor import Actor
from resolvers.commission import rate_in_force
from resolvers.dispatch.core import available_providers, load_request
from resolvers.errors import UserError, not_found
from resolvers.events import record_event, staff_audience
from resolvers.intervention_listing import SEES_INTERVENTION as SEES_INTERVENTION
from resolvers.intervention_listing import InterventionFilter as InterventionFilter
from resolvers.intervention_listing import interventions_tab as interventions_tab
from resolvers.intervention_listing import interventions_visible_to
from resolvers.intervention_listing import list_interventions as list_interventions
from resolvers.intervention_listing import visible_interventions as visible_interventions

INTERVENTION_UPDATED = "intervention.updated"
MAX_OCCURRENCES = 52
MAX_LENGTH = timedelta(hours=24)
MAX_PRICE = Decimal("10000000")


class InterventionErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    INVALID_PERIOD = "INVALID_PERIOD"
    REQUEST_NOT_ACCEPTED = "REQUEST_NOT_ACCEPTED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"


S = InterventionStatus
# Which statuses each action starts from.
_FROM: dict[S, tuple[S, ...]] = {
    S.IN_PROGRESS: (S.SCHEDULED,),
    S.DONE: (S.IN_PROGRESS,),
    S.CANCELLED: (S.SCHEDULED, S.IN_PROGRESS),
}


def _check_period(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise UserError(
            InterventionErrorCode.INVALID_PERIOD,
            _("Give times with a UTC offset."),
            field="startsAt",
        )
    if not starts_at < ends_at <= starts_at + MAX_LENGTH:
        raise UserError(
            InterventionErrorCode.INVALID_PERIOD,
            _("The end comes after the start, within 24 hours."),
            field="endsAt",
        )


def _check_price(price: Decimal) -> Decimal:
    try:
        quantized = price.quantize(Decimal("0.01"))
    except InvalidOperation:
        quantized = Decimal(-1)
    if not price.is_finite() or not Decimal(0) <= quantized <= MAX_PRICE:
        raise UserError(InterventionErrorCode.INVALID, _("Price out of range."), field="price")
    return quantized


def _shift(start: datetime, frequency: Frequency | None, n: int) -> datetime:
    if frequency is Frequency.WEEKLY:
        return start + timedelta(weeks=n)
    if frequency is Frequency.EVERY_TWO_WEEKS:
        return start + timedelta(weeks=2 * n)
    if frequency is Frequency.MONTHLY:
        months = start.month - 1 + n
        year, month = start.year + months // 12, months % 12 + 1
        return start.replace(
            year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1])
        )
    return start


# The visits the client and the provider are told of (``resolvers.notification_facts``).
_TOLD = {
    "scheduled": "VISIT_SCHEDULED",
    "rescheduled": "VISIT_MOVED",
    "cancelled": "VISIT_CANCELLED",
}


async def _record(
    tx: AfterCommit,
    intervention: Intervention,
    change: str,
    *,
    by: int | None = None,
    tell: bool = True,
) -> None:
    event = await record_event(
        tx,
        topic=INTERVENTION_UPDATED,
        marketplace_id=intervention.marketplace_id,
        object_type="Intervention",
        object_id=intervention.id,
        audience=[
            staff_audience(intervention.marketplace_id),
            f"membership:{intervention.membership_id}",
            f"client:{intervention.client_id}",
        ],
        payload={"change": change, "status": str(intervention.status)},
    )
    if tell and change in _TOLD:
        tx.enqueue(
            "send_notification",
            kind=_TOLD[change],
            key=f"visit:{intervention.id}:{event.id}",
            object_id=intervention.id,
            # Who made the change knows it already.
            extra={"by": by},
        )


def _may_plan(actor: Actor, membership_id: int | None) -> bool:
    return actor.sees_whole_marketplace or (
        actor.membership_id is not None and actor.membership_id == membership_id
    )


async def schedule_intervention(
    actor: Actor,
    *,
    request_id: int,
    starts_at: datetime,
    ends_at: datetime,
    price: Decimal,
    occurrences: int = 1,
) -> list[Intervention]:
    """Staff or the chosen provider schedule an accepted request's visits (a recurring request:
    a series), while that provider is accepted for the service; the commission rate in force on
    each visit's date is frozen on it."""
    actor.require_writer()
    _check_period(starts_at, ends_at)
    amount = _check_price(price)
    if not 1 <= occurrences <= MAX_OCCURRENCES:
        raise UserError(
            InterventionErrorCode.INVALID,
            _("Occurrences are 1 to {most}.", most=MAX_OCCURRENCES),
            field="occurrences",
        )
    async with atomic() as tx:
        request: ServiceRequest = await load_request(actor, request_id, lock=True)
        chosen = request.selected_membership_id
        if not _may_plan(actor, chosen):
            raise not_found(_("Service request"), field="requestId")
        if actor.sees_whole_marketplace:
            actor.require_staff()
        if request.status is not RequestStatus.ACCEPTED or chosen is None:
            raise UserError(
                InterventionErrorCode.REQUEST_NOT_ACCEPTED,
                _("Interventions are scheduled once the client accepted a provider."),
                field="requestId",
            )
        if not await available_providers([chosen], request.service_id):
            raise UserError(
                InterventionErrorCode.PROVIDER_UNAVAILABLE,
                _("The chosen provider is no longer accepted for this service: no new visit."),
                field="requestId",
            )
        if request.frequency is None and occurrences != 1:
            raise UserError(
                InterventionErrorCode.INVALID,
                _("A one-off request has one intervention at a time."),
                field="occurrences",
            )
        series = uuid.uuid4().hex
        created: list[Intervention] = []
        for n in range(occurrences):
            start = _shift(starts_at, request.frequency, n)
            rate = await rate_in_force(
                chosen,
                request.service_id,
                start.date(),
            )
            intervention = await Intervention.create(
                marketplace_id=request.marketplace_id,
                membership_id=chosen,
                request_id=request.id,
                client_id=request.client_id,
                service_id=request.service_id,
                status=InterventionStatus.SCHEDULED,
                starts_at=start,
                ends_at=start + (ends_at - starts_at),
                price=amount,
                commission_rate=rate,
                series_key=series,
                occurrence=n + 1,
            )
            # A series is told once, by its first visit.
            await _record(tx, intervention, "scheduled", by=actor.user_id, tell=n == 0)
            created.append(intervention)
    return created


async def _load(actor: Actor, intervention_id: int) -> Intervention:
    found = await interventions_visible_to(actor).filter(id=intervention_id).first()
    if found is None:
        raise not_found(_("Intervention"), field="interventionId")
    return found


async def reschedule_intervention(
    actor: Actor, *, intervention_id: int, starts_at: datetime, ends_at: datetime
) -> Intervention:
    """Staff or the provider move a scheduled visit; its frozen rate does not change."""
    actor.require_writer()
    _check_period(starts_at, ends_at)
    async with atomic() as tx:
        intervention = await _load(actor, intervention_id)
        if not _may_plan(actor, intervention.membership_id):
            raise not_found(_("Intervention"), field="interventionId")
        changed = await Intervention.filter(
            id=intervention.id, status=InterventionStatus.SCHEDULED
        ).update(starts_at=starts_at, ends_at=ends_at)
        await intervention.refresh_from_db()
        if not changed:
            raise _bad_transition(intervention, _("rescheduled"))
        await _record(tx, intervention, "rescheduled", by=actor.user_id)
    return intervention


async def change_intervention_status(
    actor: Actor, *, intervention_id: int, to: InterventionStatus, reason: str = ""
) -> Intervention:
    """Start (SCHEDULED), complete (IN_PROGRESS) or cancel (either, with a reason): staff and
    the provider; the client may only cancel a visit not yet started."""
    actor.require_writer()
    if to is InterventionStatus.CANCELLED and not 1 <= len(reason.strip()) <= 2000:
        raise UserError(
            InterventionErrorCode.INVALID,
            _("Give a reason (at most 2000 characters)."),
            field="reason",
        )
    async with atomic() as tx:
        intervention = await _load(actor, intervention_id)
        allowed = _FROM[to]
        if not _may_plan(actor, intervention.membership_id):
            if to is not InterventionStatus.CANCELLED:
                raise not_found(_("Intervention"), field="interventionId")
            allowed = (InterventionStatus.SCHEDULED,)
        now = clock.now()
        stamps: dict[InterventionStatus, dict[str, object]] = {
            InterventionStatus.IN_PROGRESS: {"started_at": now},
            InterventionStatus.DONE: {"completed_at": now},
            InterventionStatus.CANCELLED: {"cancelled_at": now, "cancel_reason": reason.strip()},
        }
        stamp = stamps[to]
        # A conditional update: two concurrent transitions cannot both succeed.
        changed = await Intervention.filter(id=intervention.id, status__in=allowed).update(
            status=to, **stamp
        )
        await intervention.refresh_from_db()
        if not changed:
            raise _bad_transition(intervention, to.value)
        await _record(tx, intervention, to.value.lower(), by=actor.user_id)
    return intervention


def _bad_transition(intervention: Intervention, wanted: Text | str) -> UserError:
    return UserError(
        InterventionErrorCode.INVALID_TRANSITION,
        _(
            "The intervention is {status}: it cannot be {wanted}.",
            status=intervention.status.value,
            wanted=wanted,
        ),
        field="interventionId",
    )
