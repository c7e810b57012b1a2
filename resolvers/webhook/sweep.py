"""The webhooks' sweep, every minute: retries that fell due, fan-outs a lost job left
undone, endpoints failing for too long (disabled, their admins told), old deliveries purged.

Deadlines live in the database (``next_attempt_at``, ``failing_since``), not in delayed
messages: a retry three days away survives any restart.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import cast

from tortoise.expressions import Q

from models.account import StaffMember, StaffRole
from models.events import Event
from models.marketplace import Marketplace
from models.webhook import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookDisabledReason,
    WebhookEndpoint,
    WebhookEndpointStatus,
)
from presta import clock, jobs
from presta.i18n import _
from presta.mail import Letter, Link, Paragraph, send_letter
from presta.settings import settings
from presta.tx import atomic
from resolvers.account import recipients
from resolvers.webhook.fanout import fan_out_endpoint

log = logging.getLogger(__name__)


async def sweep_webhooks() -> None:
    await fan_out_lagging_endpoints()
    await enqueue_due_deliveries()
    await disable_failing_endpoints()
    await purge_old_deliveries()


async def fan_out_lagging_endpoints() -> int:
    """Deliveries for events whose fan-out job never ran (a crash, a lost message)."""
    created = 0
    for endpoint in await WebhookEndpoint.filter(status=WebhookEndpointStatus.ACTIVE):
        if await Event.filter(
            marketplace_id=endpoint.marketplace_id, id__gt=endpoint.fanned_out_to
        ).exists():
            created += await fan_out_endpoint(endpoint.id)
    return created


async def enqueue_due_deliveries() -> int:
    """A sender for every active endpoint with a delivery due and no sender holding it."""
    now = clock.now()
    endpoint_ids = await (
        WebhookDelivery.filter(
            status=WebhookDeliveryStatus.PENDING,
            next_attempt_at__lte=now,
            endpoint__status=WebhookEndpointStatus.ACTIVE,
        )
        .distinct()
        .values_list("endpoint_id", flat=True)
    )
    free = cast(
        list[int],
        await WebhookEndpoint.filter(id__in=list(endpoint_ids))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .values_list("id", flat=True),
    )
    for endpoint_id in free:
        await jobs.enqueue("send_webhooks", endpoint_id=endpoint_id)
    return len(free)


async def disable_failing_endpoints() -> int:
    """Endpoints with no success for ``webhook_disable_after_days`` are disabled."""
    now = clock.now()
    cutoff = now - timedelta(days=settings().webhook_disable_after_days)
    disabled = 0
    failing = cast(
        list[int],
        await WebhookEndpoint.filter(
            status=WebhookEndpointStatus.ACTIVE, failing_since__lte=cutoff
        ).values_list("id", flat=True),
    )
    for endpoint_id in failing:
        async with atomic() as tx:
            changed = await WebhookEndpoint.filter(
                id=endpoint_id, status=WebhookEndpointStatus.ACTIVE, failing_since__lte=cutoff
            ).update(
                status=WebhookEndpointStatus.DISABLED,
                disabled_reason=WebhookDisabledReason.FAILING,
                disabled_at=now,
            )
            if changed:
                tx.enqueue("notify_webhook_disabled", endpoint_id=endpoint_id)
                disabled += 1
    if disabled:
        log.warning("disabled %d failing webhook endpoint(s)", disabled)
    return disabled


async def notify_webhook_disabled(endpoint_id: int) -> None:
    """E-mail the marketplace's ADMIN staff that an endpoint was disabled for failing."""
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id)
    if endpoint is None or endpoint.disabled_reason is not WebhookDisabledReason.FAILING:
        return
    marketplace = await Marketplace.get(id=endpoint.marketplace_id)
    admins = await StaffMember.filter(
        marketplace_id=marketplace.id, role=StaffRole.ADMIN, user__is_active=True
    ).values_list("user__email", flat=True)
    last = (
        await WebhookDelivery.filter(endpoint_id=endpoint.id, last_attempt_at__isnull=False)
        .order_by("-last_attempt_at")
        .first()
    )
    letter = webhook_disabled_letter(
        endpoint, marketplace.name, last.last_error if last is not None else None
    )
    await send_letter(letter, await recipients(str(e) for e in admins))


def webhook_disabled_letter(
    endpoint: WebhookEndpoint, marketplace: str, last_error: str | None
) -> Letter:
    """ADMIN staff are told that an endpoint was disabled, and how to enable it again."""
    failing = endpoint.failing_since.isoformat() if endpoint.failing_since else None
    paragraphs: list[Paragraph] = [
        _(
            "The webhook endpoint {url} of {marketplace} was disabled: no delivery to it has "
            "succeeded since {since}.",
            url=endpoint.url,
            marketplace=marketplace,
            since=failing or _("long"),
        )
    ]
    if last_error:
        paragraphs.append(_("Last error: {error}", error=last_error))
    paragraphs += [
        _(
            "Its deliveries stay readable (webhookDeliveries). Once the receiver works again, "
            "enable it with updateWebhookEndpoint(input: {{id, enabled: true}}): pending "
            "deliveries are sent again."
        ),
        Link(f"{settings().public_url}/"),
    ]
    return Letter(
        subject=_("{marketplace}: a webhook endpoint was disabled", marketplace=marketplace),
        paragraphs=paragraphs,
    )


async def purge_old_deliveries() -> int:
    """Finished deliveries older than ``webhook_delivery_retention_days`` are dropped."""
    cutoff = clock.now() - timedelta(days=settings().webhook_delivery_retention_days)
    deleted: int = await WebhookDelivery.filter(
        status__in=[WebhookDeliveryStatus.DELIVERED, WebhookDeliveryStatus.FAILED],
        created_at__lt=cutoff,
    ).delete()
    return deleted
