"""Interventions: the visits of the chosen provider, from scheduling to done or cancelled."""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from tortoise.queryset import QuerySet

from models.dispatch import Frequency, RequestStatus, ServiceRequest
from models.intervention import Intervention, InterventionStatus
from presta import clock
from presta.i18n import Text, _
from presta.settings import settings
from presta.tx import AfterCommit, atomic
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.commission import rate_in_force
from resolvers.compiled import rules
from resolvers.compiled.rules import Flag, Same, all_of, any_of
from resolvers.dispatch.core import available_providers, load_request
from resolvers.errors import UserError, not_found
from resolvers.events import record_event, staff_audience
from resolvers.membership import require_tab
from resolvers.pagination import Page, Paging, decode_cursor, keyset_page

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


# Who sees a visit, written once for the use cases (``rules.where``) and the compiled path
# (``rules.predicate``): in the acting marketplace, staff and partners every one, the
# provider and the client theirs.
SEES_INTERVENTION = all_of(
    Same("marketplace_id", "marketplace_id"),
    any_of(
        Flag("sees_whole_marketplace"),
        Same("membership_id", "membership_id"),
        Same("client_id", "client_id"),
    ),
)


def interventions_visible_to(actor: Actor) -> QuerySet[Intervention]:
    return rules.where(Intervention.all(), SEES_INTERVENTION, actor)


async def visible_interventions(actor: Actor, ids: list[int]) -> list[Intervention]:
    return await interventions_visible_to(actor).filter(id__in=ids)


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


@dataclass(frozen=True, slots=True)
class InterventionFilter:
    status: InterventionStatus | None = None
    membership_id: int | None = None
    client_id: int | None = None
    request_id: int | None = None
    starts_from: date | None = None
    starts_before: date | None = None


async def list_interventions(
    actor: Actor,
    f: InterventionFilter,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Intervention]:
    """Staff see the marketplace's visits, providers theirs, clients theirs."""
    marketplace_id = actor.require_marketplace()
    page = Paging(first=first, after=after, last=last, before=before)
    whole = actor.sees_tab_of(f.membership_id)
    # Who reads a provider's tab whole sees all its visits: the filter says it all.
    query = (
        Intervention.filter(marketplace_id=marketplace_id)
        if whole
        else interventions_visible_to(actor)
    )
    if f.status is not None:
        query = query.filter(status=f.status)
    if f.membership_id is not None:
        query = query.filter(membership_id=f.membership_id)
    if f.client_id is not None:
        query = query.filter(client_id=f.client_id)
    if f.request_id is not None:
        query = query.filter(request_id=f.request_id)
    if f.starts_from is not None:
        query = query.filter(starts_at__gte=datetime.combine(f.starts_from, time(), UTC))
    if f.starts_before is not None:
        query = query.filter(starts_at__lt=datetime.combine(f.starts_before, time(), UTC))
    if whole and f == InterventionFilter(membership_id=f.membership_id):
        # The whole tab: every provider app asks for it on opening, so its SQL is built once
        # (presta.statements).
        tab = [marketplace_id, f.membership_id]
        return await keyset_page(query, **page, shape="visits tab", params=tab)
    return await keyset_page(query, **page)


async def interventions_tab(
    actor: Actor,
    membership_id: int,
    *,
    starts_from: date | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[Intervention]:
    """A provider's Interventions tab, its visits for the marketplace's clients: for its
    marketplace's staff and partners, and the provider itself (``require_tab``)."""
    require_tab(actor, membership_id)
    f = InterventionFilter(membership_id=membership_id, starts_from=starts_from)
    return await list_interventions(actor, f, first=first, after=after)


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# A provider's Interventions tab (``interventions_tab``) read from a file its reader opens
# whole: every visit of that provider in the file's marketplace, from a day (UTC) if given.


def _starts_from(b: compiled.Builder, s: compiled.Selected) -> dict[str, str]:
    day = b.param(b.argument(s.node, "startsFrom"), "date")
    return {
        "starts_from": f"({day} IS NULL OR {{c}}.starts_at >= {day}::timestamp AT TIME ZONE 'UTC')"
    }


def _company_name(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    m, c = b.alias(), b.alias()
    return (
        f"(SELECT {c}.name FROM membership {m} JOIN provider_company {c} "
        f"ON {c}.id = {m}.company_id WHERE {m}.id = {alias}.membership_id)"
    )


compiled.declare_type(
    "Intervention",
    {
        "id": compiled.node_id("Intervention"),
        "status": compiled.column("{t}.status"),
        "startsAt": compiled.column("{t}.starts_at", "datetime"),
        "endsAt": compiled.column("{t}.ends_at", "datetime"),
        "price": compiled.column("{t}.price", "decimal"),
        "commissionRate": compiled.column("{t}.commission_rate", "decimal"),
        "occurrence": compiled.column("{t}.occurrence"),
        "seriesKey": compiled.column("{t}.series_key"),
        "cancelReason": compiled.column("{t}.cancel_reason"),
        "startedAt": compiled.column("{t}.started_at", "datetime"),
        "completedAt": compiled.column("{t}.completed_at", "datetime"),
        "cancelledAt": compiled.column("{t}.cancelled_at", "datetime"),
        "providerId": compiled.node_id("Membership", "{t}.membership_id"),
        "clientId": compiled.node_id("Client", "{t}.client_id"),
        "createdAt": compiled.column("{t}.created_at", "datetime"),
        "service": compiled.one("Service", "FROM service {c} WHERE {c}.id = {t}.service_id"),
        "companyName": _company_name,
    },
)
compiled.declare_type(
    "Membership",
    {
        "interventions": compiled.keyset_connection(
            "Intervention",
            "FROM intervention {c} WHERE {c}.marketplace_id = {t}.marketplace_id "
            "AND {c}.membership_id = {t}.id AND {starts_from}",
            max_size=lambda: settings().max_page_size,
            decode_cursor=lambda value: decode_cursor(value, field="after"),
            extra=_starts_from,
            allowed=("first", "after", "startsFrom"),
        )
    },
)
