"""Actors: one-line wrappers around async use cases; they take ids and are idempotent.

Each is also registered with ``presta.jobs`` under its name, so that the embedded default runs
the same function as a task of the API process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import dramatiq

from workers.broker import broker  # noqa: F401  (the broker must exist before actors)

from presta import jobs  # isort: skip

from resolvers import housekeeping  # isort: skip
from resolvers import idempotency  # isort: skip
from resolvers.dispatch import notice as dispatch_notice  # isort: skip
from resolvers.dispatch import reminder  # isort: skip
from resolvers.dispatch.core import run_job  # isort: skip
from resolvers import application, invitation  # isort: skip
from resolvers.client import onboarding as client_onboarding  # isort: skip
from resolvers import document_review, invoice  # isort: skip
from resolvers import notification_facts, notification_sweep  # isort: skip
from resolvers import terms  # isort: skip
from resolvers import company  # isort: skip
from resolvers.webhook import fanout as webhook_fanout  # isort: skip
from resolvers.webhook import sender as webhook_sender  # isort: skip
from resolvers.webhook import sweep as webhook_sweep  # isort: skip

F = TypeVar("F", bound=Callable[..., Awaitable[None]])


def actor(*, max_retries: int) -> Callable[[F], Any]:
    """``dramatiq.actor``, with the function registered as the job of the same name."""

    def declare(fn: F) -> Any:
        jobs.register(fn.__name__, fn)
        return dramatiq.actor(max_retries=max_retries)(fn)

    return declare


@actor(max_retries=5)
async def purge_expired_events() -> None:
    await housekeeping.purge_expired_events()


@actor(max_retries=0)
async def relay_job_outbox() -> None:
    await jobs.relay_pending()


@actor(max_retries=5)
async def purge_expired_idempotency_keys() -> None:
    await idempotency.purge_expired_idempotency_keys()


@actor(max_retries=5)
async def sweep_dispatch_deadlines() -> None:
    await reminder.sweep_dispatch_deadlines()


@actor(max_retries=10)
async def notify_dispatch_round(request_id: int, round: int, job_id: int | None = None) -> None:
    await run_job(job_id, dispatch_notice.notify_dispatch_round(request_id, round))


@actor(max_retries=10)
async def send_proposal(proposal_id: int, job_id: int | None = None) -> None:
    await run_job(job_id, dispatch_notice.send_proposal_mail(proposal_id))


@actor(max_retries=10)
async def notify_proposal_extended(dispatch_id: int, job_id: int | None = None) -> None:
    await run_job(job_id, dispatch_notice.notify_proposal_extended(dispatch_id))


@actor(max_retries=10)
async def notify_selection(request_id: int, job_id: int | None = None) -> None:
    await run_job(job_id, dispatch_notice.notify_selection(request_id))


@actor(max_retries=10)
async def send_invitation_email(invitation_id: int) -> None:
    await invitation.send_invitation_email(invitation_id)


@actor(max_retries=10)
async def send_client_invitation_email(client_id: int) -> None:
    await client_onboarding.send_client_invitation_email(client_id)


@actor(max_retries=10)
async def notify_membership_change(audit_id: int) -> None:
    await application.notify_membership_change(audit_id)


@actor(max_retries=10)
async def notify_document_review(review_id: int) -> None:
    await document_review.notify_document_review(review_id)


@actor(max_retries=5)
async def build_commission_invoices(year: int | None = None, month: int | None = None) -> None:
    await invoice.build_commission_invoices(year, month)


@actor(max_retries=5)
async def fan_out_webhooks(marketplace_id: int) -> None:
    await webhook_fanout.fan_out_webhooks(marketplace_id)


# Retries are the deliveries' own (next_attempt_at, swept): dramatiq's would resend at once.
@actor(max_retries=0)
async def send_webhooks(endpoint_id: int) -> None:
    await webhook_sender.send_webhooks(endpoint_id)


@actor(max_retries=0)
async def sweep_webhooks() -> None:
    await webhook_sweep.sweep_webhooks()


@actor(max_retries=10)
async def notify_webhook_disabled(endpoint_id: int) -> None:
    await webhook_sweep.notify_webhook_disabled(endpoint_id)


@actor(max_retries=0)
async def sweep_terms_grace_periods() -> None:
    await terms.sweep_terms_grace_periods()


@actor(max_retries=10)
async def notify_terms_published(version_id: int) -> None:
    await terms.notify_terms_published(version_id)


@actor(max_retries=10)
async def notify_terms_overdue(membership_id: int, number: int) -> None:
    await terms.notify_terms_overdue(membership_id, number)


@actor(max_retries=10)
async def send_colleague_invitation(invitation_id: int) -> None:
    await company.send_colleague_invitation(invitation_id)


@actor(max_retries=10)
async def notify_proposal_withdrawn(dispatch_id: int, key: int, job_id: int | None = None) -> None:
    await run_job(job_id, dispatch_notice.notify_proposal_withdrawn(dispatch_id, key))


@actor(max_retries=10)
async def notify_chosen_provider_unavailable(
    request_id: int, key: int, job_id: int | None = None
) -> None:
    await run_job(job_id, dispatch_notice.notify_chosen_provider_unavailable(request_id, key))


@actor(max_retries=10)
async def send_notification(
    kind: str, key: str, object_id: int, extra: dict[str, Any] | None = None
) -> None:
    await notification_facts.send_notification(kind, key, object_id, extra)


@actor(max_retries=5)
async def sweep_notifications() -> None:
    await notification_sweep.sweep_notifications()
