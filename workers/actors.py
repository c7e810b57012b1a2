"""Actors: one-line wrappers around async use cases; they take ids and are idempotent."""

from __future__ import annotations

import dramatiq

from workers.broker import broker  # noqa: F401  (the broker must exist before actors)

from presta import jobs  # isort: skip

from resolvers import housekeeping  # isort: skip
from resolvers import idempotency  # isort: skip
from resolvers.dispatch import notice as dispatch_notice  # isort: skip
from resolvers.dispatch import reminder  # isort: skip
from resolvers.dispatch.core import run_job  # isort: skip
from resolvers import application, invitation  # isort: skip
from resolvers import invoice  # isort: skip


@dramatiq.actor(max_retries=5)
async def purge_expired_events() -> None:
    await housekeeping.purge_expired_events()


@dramatiq.actor(max_retries=0)
async def relay_job_outbox() -> None:
    await jobs.relay_pending()


@dramatiq.actor(max_retries=5)
async def purge_expired_idempotency_keys() -> None:
    await idempotency.purge_expired_idempotency_keys()


@dramatiq.actor(max_retries=5)
async def sweep_dispatch_deadlines() -> None:
    await reminder.sweep_dispatch_deadlines()


@dramatiq.actor(max_retries=10)
async def notify_dispatch_round(request_id: int, round: int, job_id: int | None = None) -> None:
    await run_job(job_id, dispatch_notice.notify_dispatch_round(request_id, round))


@dramatiq.actor(max_retries=10)
async def send_proposal(proposal_id: int, job_id: int | None = None) -> None:
    await run_job(job_id, dispatch_notice.send_proposal_mail(proposal_id))


@dramatiq.actor(max_retries=10)
async def notify_proposal_extended(dispatch_id: int, job_id: int | None = None) -> None:
    await run_job(job_id, dispatch_notice.notify_proposal_extended(dispatch_id))


@dramatiq.actor(max_retries=10)
async def notify_selection(request_id: int, job_id: int | None = None) -> None:
    await run_job(job_id, dispatch_notice.notify_selection(request_id))


@dramatiq.actor(max_retries=10)
async def send_invitation_email(invitation_id: int) -> None:
    await invitation.send_invitation_email(invitation_id)


@dramatiq.actor(max_retries=10)
async def notify_membership_change(audit_id: int) -> None:
    await application.notify_membership_change(audit_id)


@dramatiq.actor(max_retries=5)
async def build_commission_invoices(year: int | None = None, month: int | None = None) -> None:
    await invoice.build_commission_invoices(year, month)
