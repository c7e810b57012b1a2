"""Providers' answers, the proposal sent to the client exactly once, and the client's choice.

Every use case here locks the request row (``SELECT ... FOR UPDATE``) before reading the
answers, so simultaneous answers are serialised by PostgreSQL and the threshold is crossed in
exactly one transaction; the conditional update on ``status = 'OPEN'`` and the unique
proposal per request are a second guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from tortoise.expressions import Subquery

from models.dispatch import (
    Dispatch,
    DispatchAnswerAudit,
    DispatchStatus,
    Proposal,
    ProposalTrigger,
    RequestStatus,
    ServiceRequest,
)
from models.intervention import Intervention
from models.marketplace import Marketplace
from presta import clock
from presta.i18n import _
from presta.tx import AfterCommit, atomic
from resolvers.actor import Actor
from resolvers.dispatch.core import (
    DispatchErrorCode,
    available_providers,
    enqueue_job,
    load_request,
    lock_provider,
    record_request_updated,
    sees_whole_request,
)
from resolvers.errors import UserError, not_found

MAX_MESSAGE = 2000
MAX_PRICE = Decimal("10000000")


@dataclass(frozen=True, slots=True)
class Answer:
    status: DispatchStatus
    message: str = ""
    price: Decimal | None = None


def _check_answer(answer: Answer) -> Decimal | None:
    if answer.status not in (DispatchStatus.INTERESTED, DispatchStatus.DECLINED):
        raise UserError(
            DispatchErrorCode.INVALID, _("Answer INTERESTED or DECLINED."), field="answer"
        )
    if len(answer.message) > MAX_MESSAGE:
        raise UserError(
            DispatchErrorCode.INVALID,
            _("Message is at most {most} characters.", most=MAX_MESSAGE),
            field="message",
        )
    if answer.price is None:
        return None
    try:
        price = answer.price.quantize(Decimal("0.01"))
    except InvalidOperation:
        price = Decimal(-1)
    if not answer.price.is_finite() or not Decimal(0) <= price <= MAX_PRICE:
        raise UserError(DispatchErrorCode.INVALID, _("Price out of range."), field="price")
    return price


async def respond_to_service_request(
    actor: Actor, *, request_id: int, answer: Answer
) -> tuple[ServiceRequest, Dispatch]:
    """A provider answers a request sent to it; it may change its mind until the proposal is
    sent; an interested answer after that is added to the proposal."""
    actor.require_writer()
    price = _check_answer(answer)
    if actor.membership_id is None:
        raise not_found(_("Service request"), field="requestId")
    async with atomic() as tx:
        seen = await load_request(actor, request_id)
        if not await Dispatch.exists(request_id=seen.id, membership_id=actor.membership_id):
            raise not_found(_("Service request"), field="requestId")
        # Read before the request's lock, which every other answer to it waits for.
        marketplace = await Marketplace.get(id=seen.marketplace_id)
        if not await lock_provider(actor.membership_id, seen.service_id):
            raise UserError(
                DispatchErrorCode.PROVIDER_UNAVAILABLE,
                _("Only a provider accepted, and accepted for this service, may answer."),
                field="requestId",
            )
        request = await ServiceRequest.filter(id=seen.id).select_for_update().get()
        dispatch = await Dispatch.get(request_id=request.id, membership_id=actor.membership_id)
        if request.status not in (RequestStatus.OPEN, RequestStatus.PROPOSAL_SENT):
            raise UserError(
                DispatchErrorCode.REQUEST_CLOSED,
                _(
                    "The request is {status}: it takes no more answers.",
                    status=request.status.value,
                ),
                field="requestId",
            )
        late = request.status is RequestStatus.PROPOSAL_SENT
        if late and dispatch.status is not DispatchStatus.PENDING:
            raise UserError(
                DispatchErrorCode.ANSWER_LOCKED,
                _("The proposal was sent: answers given before it can no longer change."),
                field="answer",
            )
        now = clock.now()
        await DispatchAnswerAudit.create(
            dispatch_id=dispatch.id,
            user_id=actor.user_id,
            round=request.round,
            from_status=dispatch.status,
            to_status=answer.status,
            message=answer.message.strip(),
            price=price,
        )
        dispatch.status = answer.status
        dispatch.message = answer.message.strip()
        dispatch.price = price
        dispatch.answered_at = now
        if late and answer.status is DispatchStatus.INTERESTED:
            dispatch.proposed_at = now
            await enqueue_job(tx, "notify_proposal_extended", dispatch_id=dispatch.id)
        await dispatch.save(
            update_fields=["status", "message", "price", "answered_at", "proposed_at"]
        )
        members = None if late else await _after_answer(tx, request, marketplace)
        await record_request_updated(tx, request, "answered", members=members)
    return request, dispatch


async def _after_answer(
    tx: AfterCommit, request: ServiceRequest, marketplace: Marketplace
) -> list[int]:
    """Send the proposal or restart the reminders as the answers now stand; the memberships
    the request was sent to (the event's audience, read in the same statement)."""
    answers = await Dispatch.filter(request_id=request.id).values_list("membership_id", "status")
    members = [int(m) for m, _status in answers]
    interested = sum(status == DispatchStatus.INTERESTED for _m, status in answers)
    now = clock.now()
    if interested >= marketplace.proposals_required:
        await send_proposal(tx, request, ProposalTrigger.THRESHOLD)
    elif interested and request.send_proposal_at is not None and request.send_proposal_at <= now:
        await send_proposal(tx, request, ProposalTrigger.DEADLINE)
    elif not interested and request.remind_at is None:
        # Everyone interested changed their mind: silence counts again from now.
        request.remind_at = now + timedelta(days=marketplace.days_before_reminder)
        await request.save(update_fields=["remind_at"])
    return members


async def send_proposal(
    tx: AfterCommit, request: ServiceRequest, trigger: ProposalTrigger
) -> Proposal | None:
    """Send the proposal naming every interested provider; a no-op if it was already sent.

    The caller holds the request's row lock; the conditional update is what makes a second
    attempt (another process, a redelivered job) change nothing.
    """
    now = clock.now()
    changed = await ServiceRequest.filter(id=request.id, status=RequestStatus.OPEN).update(
        status=RequestStatus.PROPOSAL_SENT, send_proposal_at=None, remind_at=None
    )
    if changed != 1:
        return None
    request.status = RequestStatus.PROPOSAL_SENT
    request.send_proposal_at = request.remind_at = None
    proposal = await Proposal.create(request_id=request.id, trigger=trigger, sent_at=now)
    await Dispatch.filter(request_id=request.id, status=DispatchStatus.INTERESTED).update(
        proposed_at=now
    )
    await enqueue_job(tx, "send_proposal", proposal_id=proposal.id)
    return proposal


async def accept_proposal(
    actor: Actor, *, request_id: int, membership_id: int
) -> tuple[ServiceRequest, Dispatch]:
    """The client picks one provider of the proposal; the others are told they were not."""
    actor.require_writer()
    async with atomic() as tx:
        request = await load_request(actor, request_id, lock=True)
        own = actor.client_id is not None and actor.client_id == request.client_id
        if not sees_whole_request(actor, request):
            raise not_found(_("Service request"), field="requestId")
        if not own:
            actor.require_staff()
        if request.status is RequestStatus.OPEN:
            raise UserError(
                DispatchErrorCode.NO_PROPOSAL, _("No proposal was sent yet."), field="requestId"
            )
        if request.status is not RequestStatus.PROPOSAL_SENT:
            raise UserError(
                DispatchErrorCode.REQUEST_CLOSED,
                _("The request is {status}.", status=request.status.value),
                field="requestId",
            )
        chosen = await Dispatch.get_or_none(
            request_id=request.id,
            membership_id=membership_id,
            status=DispatchStatus.INTERESTED,
            proposed_at__not_isnull=True,
        )
        if chosen is None:
            raise UserError(
                DispatchErrorCode.NOT_IN_PROPOSAL,
                _("This provider is not in the proposal."),
                field="providerId",
            )
        if not await available_providers([membership_id], request.service_id):
            raise UserError(
                DispatchErrorCode.PROVIDER_UNAVAILABLE,
                _("This provider is no longer available: choose another one of the proposal."),
                field="providerId",
            )
        now = clock.now()
        chosen.status = DispatchStatus.SELECTED
        await chosen.save(update_fields=["status"])
        await (
            Dispatch.filter(request_id=request.id)
            .exclude(id=chosen.id)
            .exclude(status=DispatchStatus.DECLINED)
            .update(status=DispatchStatus.NOT_SELECTED)
        )
        await Proposal.filter(request_id=request.id).update(accepted_at=now)
        request.status = RequestStatus.ACCEPTED
        request.selected_membership_id = membership_id
        request.closed_at = now
        await request.save(update_fields=["status", "selected_membership_id", "closed_at"])
        await record_request_updated(tx, request, "accepted")
        await enqueue_job(tx, "notify_selection", request_id=request.id)
    return request, chosen


async def withdraw_provider(
    tx: AfterCommit, *, membership_id: int, service_id: int | None = None, by: int | None
) -> None:
    """A provider no longer accepted (or no longer for this service) leaves the requests still
    open: its interested answer stops counting and leaves a sent proposal, so the client cannot
    choose it; once accepted again it may answer again. A client who already chose it, with no
    visit scheduled yet, is told it is unavailable (the request stays with it: staff decide).
    One event per request changed; the client is e-mailed when a proposal it received loses
    a provider, or its chosen provider becomes unavailable.

    The caller holds the membership's (or the service row's) lock, which answers take too, and
    has recorded no event yet: the requests are locked first, in id order, then changed (an
    event is recorded under a lock held until commit, and a sweep holds a request's lock while
    it records its own).
    """
    interested = Dispatch.filter(
        membership_id=membership_id,
        status=DispatchStatus.INTERESTED,
        request__status__in=[RequestStatus.OPEN, RequestStatus.PROPOSAL_SENT],
    )
    chosen = ServiceRequest.filter(
        selected_membership_id=membership_id, status=RequestStatus.ACCEPTED
    ).exclude(
        id__in=Subquery(
            Intervention.filter(membership_id=membership_id, request_id__isnull=False).values(
                "request_id"
            )
        )
    )
    if service_id is not None:
        interested = interested.filter(request__service_id=service_id)
        chosen = chosen.filter(service_id=service_id)
    open_ids = set(await interested.values_list("request_id", flat=True))
    chosen_ids = set(await chosen.values_list("id", flat=True))
    if not open_ids and not chosen_ids:
        return
    locked = (
        await ServiceRequest.filter(id__in=list(open_ids | chosen_ids))
        .order_by("id")
        .select_for_update()
    )
    for request in locked:
        if request.id in chosen_ids:
            if request.status is RequestStatus.ACCEPTED:
                event = await record_request_updated(tx, request, "provider_unavailable")
                await enqueue_job(
                    tx, "notify_chosen_provider_unavailable", request_id=request.id, key=event.id
                )
            continue
        dispatch = await Dispatch.get(request_id=request.id, membership_id=membership_id)
        if dispatch.status is not DispatchStatus.INTERESTED or request.status not in (
            RequestStatus.OPEN,
            RequestStatus.PROPOSAL_SENT,
        ):
            continue
        audit = await DispatchAnswerAudit.create(
            dispatch_id=dispatch.id,
            user_id=by,
            round=request.round,
            from_status=dispatch.status,
            to_status=DispatchStatus.PENDING,
            message="Withdrawn: the provider is no longer accepted for this service.",
        )
        was_proposed = dispatch.proposed_at is not None
        dispatch.status = DispatchStatus.PENDING
        dispatch.proposed_at = None
        await dispatch.save(update_fields=["status", "proposed_at"])
        nobody_left = not await Dispatch.exists(
            request_id=request.id, status=DispatchStatus.INTERESTED
        )
        if request.status is RequestStatus.OPEN and request.remind_at is None and nobody_left:
            # Nobody is interested any more: silence counts again from now.
            marketplace = await Marketplace.get(id=request.marketplace_id)
            request.remind_at = clock.now() + timedelta(days=marketplace.days_before_reminder)
            await request.save(update_fields=["remind_at"])
        await record_request_updated(tx, request, "withdrawn")
        if was_proposed and request.status is RequestStatus.PROPOSAL_SENT:
            await enqueue_job(
                tx, "notify_proposal_withdrawn", dispatch_id=dispatch.id, key=audit.id
            )


async def proposal_of(request_id: int) -> tuple[Proposal | None, list[Dispatch]]:
    """The proposal and its providers in the order they joined it (callers checked access)."""
    proposal = await Proposal.get_or_none(request_id=request_id)
    if proposal is None:
        return None, []
    entries = (
        await Dispatch.filter(request_id=request_id, proposed_at__not_isnull=True)
        .exclude(status=DispatchStatus.DECLINED)
        .order_by("proposed_at", "id")
        .select_related("membership__company")
    )
    return proposal, list(entries)
