"""The dispatch deadlines: the sweep that sends late proposals, runs reminder rounds and
expires requests nobody answered.

Deadlines live on the request rows (``send_proposal_at``, ``remind_at``). Each due request is
handled in its own transaction under its row lock, re-checking the deadline: two sweeps at
once, or a sweep redelivered after a crash, act once.
"""

from __future__ import annotations

import logging
from typing import cast

from tortoise.expressions import Q

from models.dispatch import Dispatch, DispatchStatus, ProposalTrigger, RequestStatus, ServiceRequest
from models.marketplace import Marketplace
from presta import clock
from presta.tx import atomic
from resolvers.dispatch.core import (
    available_providers,
    record_request_updated,
    requeue_stale_jobs,
    send_to_providers,
)
from resolvers.dispatch.proposal import send_proposal
from resolvers.matching import matching_membership_ids

log = logging.getLogger(__name__)
BATCH = 200


async def sweep_dispatch_deadlines() -> int:
    """Act on every request whose deadline passed (returns how many changed), and enqueue
    again the jobs left undone."""
    now = clock.now()
    due = cast(
        list[int],
        await ServiceRequest.filter(status=RequestStatus.OPEN)
        .filter(Q(send_proposal_at__lte=now) | Q(remind_at__lte=now))
        .order_by("id")
        .limit(BATCH)
        .values_list("id", flat=True),
    )
    requeued = await requeue_stale_jobs()
    if requeued:
        log.warning("enqueued again %d dispatch jobs left undone", requeued)
    changed = 0
    for request_id in due:
        try:
            changed += await handle_request_deadlines(request_id)
        except Exception:
            # One broken request must not stop the others; the next sweep retries it.
            log.exception("deadline handling failed for request %s", request_id)
    return changed


async def handle_request_deadlines(request_id: int) -> int:
    """Send the proposal, run a reminder round or expire the request, if due; else nothing."""
    async with atomic() as tx:
        request = await ServiceRequest.filter(id=request_id).select_for_update().first()
        now = clock.now()
        if request is None or request.status is not RequestStatus.OPEN:
            return 0
        interested = await Dispatch.filter(
            request_id=request.id, status=DispatchStatus.INTERESTED
        ).count()
        if interested and request.send_proposal_at is not None and request.send_proposal_at <= now:
            if await send_proposal(tx, request, ProposalTrigger.DEADLINE) is None:
                return 0
            await record_request_updated(tx, request, "proposal_sent")
            return 1
        if request.remind_at is None or request.remind_at > now:
            return 0
        if interested:
            # Someone answered: no reminder; the sending deadline takes over.
            request.remind_at = None
            await request.save(update_fields=["remind_at"])
            await record_request_updated(tx, request, "reminder_skipped")
            return 0
        marketplace = await Marketplace.get(id=request.marketplace_id)
        if request.round > marketplace.max_reminder_rounds:
            request.status = RequestStatus.EXPIRED
            request.closed_at = now
            request.send_proposal_at = request.remind_at = None
            await request.save(
                update_fields=["status", "closed_at", "send_proposal_at", "remind_at"]
            )
            await record_request_updated(tx, request, "expired")
            return 1
        matched: list[int]
        declined = set(
            cast(
                list[int],
                await Dispatch.filter(
                    request_id=request.id, status=DispatchStatus.DECLINED
                ).values_list("membership_id", flat=True),
            )
        )
        if not marketplace.dispatch_enabled:
            # Assigned by hand: remind those staff chose, nobody else, while still available.
            pending = cast(
                list[int],
                await Dispatch.filter(
                    request_id=request.id, status=DispatchStatus.PENDING
                ).values_list("membership_id", flat=True),
            )
            available = await available_providers(pending, request.service_id)
            matched = [m for m in pending if m in available]
        else:
            matched = await matching_membership_ids(
                marketplace_id=marketplace.id,
                service_id=request.service_id,
                postal_code=request.postal_code,
                latitude=request.latitude,
                longitude=request.longitude,
                on=now.date(),
            )
        await send_to_providers(
            tx, request, marketplace, [m for m in matched if m not in declined], new_round=True
        )
        await record_request_updated(tx, request, "reminder")
        return 1
