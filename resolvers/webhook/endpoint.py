"""Webhook endpoints: ADMIN staff create, change, disable and delete them, and read what was
sent to each. The signing secret is shown once (creation, rotation) and stored sealed."""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from enum import StrEnum

from models.webhook import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookDisabledReason,
    WebhookEndpoint,
    WebhookEndpointStatus,
)
from presta import clock
from presta.i18n import _
from presta.security import Vault
from presta.settings import settings
from presta.tx import atomic
from resolvers.account import USER_UPDATED
from resolvers.actor import Actor
from resolvers.catalog import PROVIDER_SERVICE_UPDATED, SERVICE_UPDATED
from resolvers.company import COMPANY_UPDATED
from resolvers.dispatch.core import REQUEST_DISPATCHED, REQUEST_UPDATED
from resolvers.document import DOCUMENT_REVIEWED
from resolvers.errors import UserError, not_found
from resolvers.events import latest_event_id
from resolvers.intervention import INTERVENTION_UPDATED
from resolvers.invoice import INVOICE_FILED
from resolvers.marketplace import MARKETPLACE_UPDATED
from resolvers.membership import MEMBERSHIP_UPDATED
from resolvers.messaging.core import MESSAGE_CREATED
from resolvers.notification import NOTIFICATION_CREATED
from resolvers.pagination import Page, keyset_page
from resolvers.staff import STAFF_UPDATED
from resolvers.terms import TERMS_ACCEPTED, TERMS_PUBLISHED
from resolvers.webhook.address import BadUrl, check_url
from resolvers.zone import ZONE_UPDATED

SECRET_PREFIX = "whsec_"
MAX_DESCRIPTION = 500
# Every topic the event log records for a marketplace (user.updated follows a person, not a
# marketplace: it is not offered).
EVENT_TYPES = tuple(
    sorted(
        {
            DOCUMENT_REVIEWED,
            INTERVENTION_UPDATED,
            INVOICE_FILED,
            MEMBERSHIP_UPDATED,
            MESSAGE_CREATED,
            PROVIDER_SERVICE_UPDATED,
            REQUEST_DISPATCHED,
            REQUEST_UPDATED,
            SERVICE_UPDATED,
            TERMS_ACCEPTED,
            TERMS_PUBLISHED,
            ZONE_UPDATED,
        }
    )
)
# A person's own events (their account, what they are told) follow them, not a marketplace;
# the marketplace's staff screens' events are not for partners either.
NOT_OFFERED = frozenset(
    {USER_UPDATED, NOTIFICATION_CREATED, COMPANY_UPDATED, MARKETPLACE_UPDATED, STAFF_UPDATED}
)


class WebhookErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
    TOO_MANY_ENDPOINTS = "TOO_MANY_ENDPOINTS"
    ENDPOINT_DISABLED = "ENDPOINT_DISABLED"
    OUT_OF_RANGE = "OUT_OF_RANGE"


# After a rotation the old secret signs too for this long by default (as Svix does), at most
# a week.
PREVIOUS_SECRET_HOURS = 24
MAX_PREVIOUS_SECRET_HOURS = 7 * 24


def _vault(endpoint_id: int) -> Vault:
    # No secret of the owner's: the server secret alone opens it, since every send needs it.
    return Vault(purpose=b"presta-webhook-secret-v1", owner=f"webhook:{endpoint_id}", secret="")


def signing_secret(endpoint: WebhookEndpoint) -> str | None:
    """The endpoint's ``whsec_`` secret, or None when it cannot be unsealed (server secret
    changed)."""
    return _unsealed(endpoint.id, endpoint.sealed_secret)


def signing_secrets(endpoint: WebhookEndpoint) -> list[str] | None:
    """The secrets that sign a message now: the endpoint's, then the one it replaced while
    that one's grace period lasts (a receiver verifies with either, as Standard Webhooks
    lets a signature header carry several). None when the current one cannot be unsealed."""
    current = signing_secret(endpoint)
    if current is None:
        return None
    expires, sealed = endpoint.previous_secret_expires_at, endpoint.previous_sealed_secret
    if sealed is None or expires is None or expires <= clock.now():
        return [current]
    previous = _unsealed(endpoint.id, sealed)
    return [current] if previous is None else [current, previous]


def _unsealed(endpoint_id: int, sealed: str) -> str | None:
    raw = _vault(endpoint_id).unseal(sealed)
    return SECRET_PREFIX + base64.b64encode(raw).decode() if raw is not None else None


def _new_secret(endpoint_id: int) -> tuple[str, str]:
    """(the secret to show, its sealed form to store): 32 random bytes, base64."""
    raw = os.urandom(32)
    return SECRET_PREFIX + base64.b64encode(raw).decode(), _vault(endpoint_id).seal(raw)


def _url(url: str) -> str:
    try:
        return check_url(url)
    except BadUrl as exc:
        code = WebhookErrorCode.URL_NOT_ALLOWED if exc.refused else WebhookErrorCode.INVALID
        raise UserError(code, exc.text, field="url") from None


def _topics(events: list[str] | None) -> list[str] | None:
    """The topics to store: None (every topic) for none given."""
    if not events:
        return None
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise UserError(
            WebhookErrorCode.UNKNOWN_EVENT_TYPE,
            _(
                "Unknown event type(s): {unknown}. Known: {known}.",
                unknown=", ".join(unknown),
                known=", ".join(EVENT_TYPES),
            ),
            field="events",
        )
    return sorted(set(events))


def _description(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_DESCRIPTION:
        raise UserError(
            WebhookErrorCode.INVALID,
            _("A description has at most {most} characters.", most=MAX_DESCRIPTION),
            field="description",
        )
    return text


async def create_webhook_endpoint(
    actor: Actor,
    *,
    url: str,
    events: list[str] | None = None,
    description: str = "",
    ordered: bool = False,
) -> tuple[WebhookEndpoint, str]:
    """ADMIN staff add an endpoint; it receives the events recorded from now on."""
    marketplace_id = actor.require_staff(admin=True)
    url, topics, description = _url(url), _topics(events), _description(description)
    async with atomic():
        if await WebhookEndpoint.filter(marketplace_id=marketplace_id).count() >= (
            limit := settings().webhook_max_endpoints
        ):
            raise UserError(
                WebhookErrorCode.TOO_MANY_ENDPOINTS,
                _("A marketplace has at most {limit} endpoints.", limit=limit),
            )
        endpoint = await WebhookEndpoint.create(
            marketplace_id=marketplace_id,
            url=url,
            topics=topics,
            description=description,
            ordered=ordered,
            sealed_secret="",
            fanned_out_to=await latest_event_id(),
            created_by_id=actor.user_id,
        )
        secret, endpoint.sealed_secret = _new_secret(endpoint.id)
        await endpoint.save(update_fields=["sealed_secret"])
    return endpoint, secret


async def endpoint_for(actor: Actor, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    marketplace_id = actor.require_staff(admin=True)
    query = WebhookEndpoint.filter(id=endpoint_id, marketplace_id=marketplace_id)
    endpoint = await (query.select_for_update() if lock else query).first()
    if endpoint is None:
        raise not_found(_("Webhook endpoint"))
    return endpoint


async def update_webhook_endpoint(
    actor: Actor,
    *,
    endpoint_id: int,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    ordered: bool | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given; ``events=[]`` means every topic. Enabling a disabled endpoint
    sends its pending deliveries now and the events recorded from now on."""
    async with atomic() as tx:
        endpoint = await endpoint_for(actor, endpoint_id, lock=True)
        if url is not None:
            endpoint.url = _url(url)
        if events is not None:
            endpoint.topics = _topics(events)
        if description is not None:
            endpoint.description = _description(description)
        if ordered is not None:
            endpoint.ordered = ordered
        if enabled is False and endpoint.status is WebhookEndpointStatus.ACTIVE:
            _disable(endpoint, WebhookDisabledReason.BY_ADMIN)
        await endpoint.save(update_fields=_EDITABLE)
        if enabled and endpoint.status is WebhookEndpointStatus.DISABLED:
            await WebhookEndpoint.filter(id=endpoint.id).update(
                status=WebhookEndpointStatus.ACTIVE,
                disabled_reason=None,
                disabled_at=None,
                failing_since=None,
                fanned_out_to=max(endpoint.fanned_out_to, await latest_event_id()),
            )
            await WebhookDelivery.filter(
                endpoint_id=endpoint.id, status=WebhookDeliveryStatus.PENDING
            ).update(next_attempt_at=clock.now())
            tx.enqueue("send_webhooks", endpoint_id=endpoint.id)
            await endpoint.refresh_from_db()
    return endpoint


# What the use cases change (the row is locked): never the lease a sender holds.
_EDITABLE = [
    "url",
    "topics",
    "description",
    "ordered",
    "status",
    "disabled_reason",
    "disabled_at",
    "updated_at",
]


def _disable(endpoint: WebhookEndpoint, reason: WebhookDisabledReason) -> None:
    endpoint.status = WebhookEndpointStatus.DISABLED
    endpoint.disabled_reason = reason
    endpoint.disabled_at = clock.now()


async def disable_webhook_endpoint(actor: Actor, *, endpoint_id: int) -> WebhookEndpoint:
    """Nothing more is sent; pending deliveries wait, and everything stays readable."""
    async with atomic():
        endpoint = await endpoint_for(actor, endpoint_id, lock=True)
        if endpoint.status is WebhookEndpointStatus.ACTIVE:
            _disable(endpoint, WebhookDisabledReason.BY_ADMIN)
            await endpoint.save(update_fields=_EDITABLE)
    return endpoint


async def delete_webhook_endpoint(actor: Actor, *, endpoint_id: int) -> int:
    """The endpoint and its deliveries are gone; returns its id."""
    async with atomic():
        endpoint = await endpoint_for(actor, endpoint_id, lock=True)
        await endpoint.delete()
    return endpoint_id


async def rotate_webhook_secret(
    actor: Actor, *, endpoint_id: int, previous_valid_hours: int = PREVIOUS_SECRET_HOURS
) -> tuple[WebhookEndpoint, str]:
    """A new secret signs everything sent from now on. The old one signs too for
    ``previous_valid_hours`` (0: it stops at once, for a leaked secret), so the receiver can
    switch without losing a message."""
    if not 0 <= previous_valid_hours <= MAX_PREVIOUS_SECRET_HOURS:
        raise UserError(
            WebhookErrorCode.INVALID,
            _(
                "The old secret stays valid between 0 and {hours} hours.",
                hours=MAX_PREVIOUS_SECRET_HOURS,
            ),
            field="previousSecretValidHours",
        )
    async with atomic():
        endpoint = await endpoint_for(actor, endpoint_id, lock=True)
        if previous_valid_hours:
            endpoint.previous_sealed_secret = endpoint.sealed_secret
            endpoint.previous_secret_expires_at = clock.now() + timedelta(
                hours=previous_valid_hours
            )
        else:
            endpoint.previous_sealed_secret = endpoint.previous_secret_expires_at = None
        secret, endpoint.sealed_secret = _new_secret(endpoint.id)
        await endpoint.save(
            update_fields=[
                "sealed_secret",
                "previous_sealed_secret",
                "previous_secret_expires_at",
                "updated_at",
            ]
        )
    return endpoint, secret


async def webhook_endpoints(actor: Actor) -> list[WebhookEndpoint]:
    marketplace_id = actor.require_staff(admin=True)
    return await WebhookEndpoint.filter(marketplace_id=marketplace_id).order_by("-id")


async def webhook_deliveries(
    actor: Actor,
    *,
    endpoint_id: int,
    status: WebhookDeliveryStatus | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[WebhookDelivery]:
    """What was (or will be) sent to an endpoint, newest first."""
    endpoint = await endpoint_for(actor, endpoint_id)
    query = WebhookDelivery.filter(endpoint_id=endpoint.id)
    if status is not None:
        query = query.filter(status=status)
    return await keyset_page(query, first=first, after=after, last=last, before=before)


async def redeliver_webhook(actor: Actor, *, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now, under the same ``webhook-id``, with a new retry window."""
    marketplace_id = actor.require_staff(admin=True)
    delivery = await WebhookDelivery.filter(
        id=delivery_id, endpoint__marketplace_id=marketplace_id
    ).first()
    if delivery is None:
        raise not_found(_("Webhook delivery"))
    async with atomic() as tx:
        endpoint = await WebhookEndpoint.get(id=delivery.endpoint_id)
        if endpoint.status is not WebhookEndpointStatus.ACTIVE:
            raise UserError(
                WebhookErrorCode.ENDPOINT_DISABLED, _("Enable the endpoint first."), field="id"
            )
        now = clock.now()
        delivery.status = WebhookDeliveryStatus.PENDING
        delivery.next_attempt_at = now
        delivery.give_up_at = now + timedelta(days=settings().webhook_retry_days)
        await delivery.save(update_fields=["status", "next_attempt_at", "give_up_at"])
        tx.enqueue("send_webhooks", endpoint_id=delivery.endpoint_id)
    return delivery


async def visible_endpoints(actor: Actor, ids: list[int]) -> list[WebhookEndpoint]:
    """Only ADMIN staff see their marketplace's endpoints."""
    if not actor.is_admin or actor.marketplace_id is None:
        return []
    return await WebhookEndpoint.filter(id__in=ids, marketplace_id=actor.marketplace_id)


async def visible_deliveries(actor: Actor, ids: list[int]) -> list[WebhookDelivery]:
    if not actor.is_admin or actor.marketplace_id is None:
        return []
    return await WebhookDelivery.filter(id__in=ids, endpoint__marketplace_id=actor.marketplace_id)
