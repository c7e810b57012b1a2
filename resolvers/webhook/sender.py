"""Deliveries are sent, signed per Standard Webhooks.

One sender per endpoint at a time holds its lease (``lease_owner``): an ordered endpoint's
deliveries go in order, and one connection serves a batch. Each batch resolves the host and
posts to the checked address (``address``), follows no redirect, and counts a 2xx as
delivered; anything else schedules the next attempt in the database (exponential backoff with
jitter) until the retry window closes. A crash leaves rows pending and the lease expiring:
the sweep picks them up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import takewhile

import httpx
from standardwebhooks import Webhook
from tortoise.expressions import F, Q

from models.webhook import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEndpointStatus,
)
from presta import clock
from presta.settings import settings
from presta.tx import atomic
from resolvers.webhook import address
from resolvers.webhook.endpoint import signing_secrets

log = logging.getLogger(__name__)
BATCH = 32  # deliveries sent at once to an unordered endpoint
ORDERED_BATCH = 8  # deliveries sent one after the other to an ordered endpoint
# Connections to one endpoint at once. httpcore's pool checks every connection for every
# queued request (a socket call each): with 32 queued on 32 connections that was most of the
# sender's CPU (py-spy, bench/webhooks.py), so requests wait on a semaphore instead. On
# loopback 4 to 8 did best; a distant receiver is latency-bound, hence 8 rather than 4.
CONNECTIONS = 8
MAX_ROUNDS = 1000
READ_AT_MOST = 64 * 1024  # of a response body: read to reuse the connection, never kept
USER_AGENT = "Presta-Webhooks/1"
# Certificate checks as httpx's default, built once (~20 ms each time a client built its
# own) and when the process starts: made later, this long-lived object pinned the top of the
# heap, so memory freed below it was reused rather than seen to grow (tests/test_collector).
_TLS: ssl.SSLContext = httpx.create_ssl_context()


async def send_webhooks(endpoint_id: int) -> int:
    """Send the endpoint's due deliveries while holding its lease; how many were delivered."""
    delivered = 0
    for _ in range(MAX_ROUNDS):
        token = await _take_lease(endpoint_id)
        if token is None:
            return delivered  # another sender holds it, or the endpoint is not active
        try:
            delivered += await _send_due(endpoint_id, token)
        finally:
            await WebhookEndpoint.filter(id=endpoint_id, lease_owner=token).update(
                lease_owner=None, lease_until=None
            )
        # Deliveries created while the lease was held: their own job found it taken.
        endpoint = await WebhookEndpoint.get_or_none(
            id=endpoint_id, status=WebhookEndpointStatus.ACTIVE
        )
        if endpoint is None or not await due(endpoint, 1):
            return delivered
    return delivered


def _lease_seconds() -> float:
    return 30 + settings().webhook_timeout_seconds * (ORDERED_BATCH + 2)


async def _take_lease(endpoint_id: int) -> str | None:
    now, token = clock.now(), uuid.uuid4().hex
    taken = (
        await WebhookEndpoint.filter(id=endpoint_id, status=WebhookEndpointStatus.ACTIVE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=token, lease_until=now + timedelta(seconds=_lease_seconds()))
    )
    return token if taken else None


async def due(endpoint: WebhookEndpoint, limit: int) -> list[WebhookDelivery]:
    """What may be sent now: an ordered endpoint's first pending deliveries while they are
    due (a later one waits for every earlier one), else any due delivery."""
    now = clock.now()
    pending = WebhookDelivery.filter(
        endpoint_id=endpoint.id, status=WebhookDeliveryStatus.PENDING
    ).order_by("id")
    if endpoint.ordered:
        rows = await pending.limit(limit)
        return list(
            takewhile(lambda d: d.next_attempt_at is not None and d.next_attempt_at <= now, rows)
        )
    return await pending.filter(next_attempt_at__lte=now).limit(limit)


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool = False
    status: int | None = None
    error: str = ""


async def _send_due(endpoint_id: int, token: str) -> int:
    delivered = 0
    timeout = settings().webhook_timeout_seconds
    async with httpx.AsyncClient(
        verify=_TLS,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
    ) as client:
        for _ in range(MAX_ROUNDS):
            # Read again each round: a disabled, deleted or re-secreted endpoint takes effect.
            endpoint = await WebhookEndpoint.get_or_none(
                id=endpoint_id, status=WebhookEndpointStatus.ACTIVE, lease_owner=token
            )
            if endpoint is None:
                break
            batch = await due(endpoint, ORDERED_BATCH if endpoint.ordered else BATCH)
            if not batch:
                break
            await WebhookEndpoint.filter(id=endpoint_id, lease_owner=token).update(
                lease_until=clock.now() + timedelta(seconds=_lease_seconds())
            )
            batch, outcomes = await _attempt(client, endpoint, batch)
            await _record(endpoint, batch, outcomes)
            delivered += sum(o.ok for o in outcomes)
            if endpoint.ordered and not outcomes[-1].ok:
                break
    return delivered


async def _attempt(
    client: httpx.AsyncClient, endpoint: WebhookEndpoint, batch: list[WebhookDelivery]
) -> tuple[list[WebhookDelivery], list[Outcome]]:
    """Send the batch (in order, stopping at a failure, when ordered); what was attempted."""
    secrets = signing_secrets(endpoint)
    try:
        if secrets is None:
            raise address.AddressRefused("the secret cannot be read: rotate it")
        target = await address.target(endpoint.url)
    except address.AddressRefused as exc:
        log.warning("webhook endpoint %s not reached: %s", endpoint.id, exc)
        batch = batch[:1] if endpoint.ordered else batch
        return batch, [Outcome(error=str(exc)[:500])] * len(batch)
    signer = _Signer([Webhook(secret) for secret in secrets])
    if not endpoint.ordered:
        lanes = asyncio.Semaphore(CONNECTIONS)

        async def post(delivery: WebhookDelivery) -> Outcome:
            async with lanes:
                return await _post(client, target, signer, delivery)

        outcomes = await asyncio.gather(*(post(d) for d in batch))
        return batch, list(outcomes)
    done: list[Outcome] = []
    for delivery in batch:
        done.append(await _post(client, target, signer, delivery))
        if not done[-1].ok:
            break
    return batch[: len(done)], done


class _Signer:
    """Signs with each secret in force: one ``v1,…`` signature each, space-separated."""

    def __init__(self, webhooks: list[Webhook]) -> None:
        self.webhooks = webhooks

    def sign(self, message_id: str, sent_at: datetime, body: str) -> str:
        return " ".join(w.sign(message_id, sent_at, body) for w in self.webhooks)


async def _post(
    client: httpx.AsyncClient, target: address.Target, signer: _Signer, d: WebhookDelivery
) -> Outcome:
    # Receivers check the timestamp against their own clock (5 minutes' tolerance): the wall
    # clock's, not presta.clock's, which tests move.
    sent_at = datetime.now(UTC)
    headers = {
        "host": target.host,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": d.message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signer.sign(d.message_id, sent_at, d.body),
    }
    try:
        async with asyncio.timeout(settings().webhook_timeout_seconds):
            request = client.build_request(
                "POST",
                target.url,
                content=d.body.encode(),
                headers=headers,
                extensions=target.extensions,
            )
            response = await client.send(request, stream=True)
            try:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > READ_AT_MOST:
                        break
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(error="timed out")
    except httpx.HTTPError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:500])
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(ok=True, status=code)
    redirect = " (redirects are not followed)" if 300 <= code < 400 else ""
    return Outcome(status=code, error=f"HTTP {code}{redirect}")


def backoff(attempts: int) -> timedelta:
    """Exponential, capped, with jitter (half fixed, half random) so retries spread."""
    cfg = settings()
    ceiling = min(
        cfg.webhook_backoff_max_seconds,
        cfg.webhook_backoff_base_seconds * 2 ** min(attempts - 1, 40),
    )
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


async def _record(
    endpoint: WebhookEndpoint, batch: list[WebhookDelivery], outcomes: list[Outcome]
) -> None:
    now = clock.now()
    by_status: dict[int | None, list[int]] = {}
    for delivery, outcome in zip(batch, outcomes, strict=True):
        if outcome.ok:
            by_status.setdefault(outcome.status, []).append(delivery.id)
    async with atomic():
        for code, ids in by_status.items():
            await WebhookDelivery.filter(id__in=ids, status=WebhookDeliveryStatus.PENDING).update(
                status=WebhookDeliveryStatus.DELIVERED,
                delivered_at=now,
                last_attempt_at=now,
                last_response_status=code,
                last_error="",
                next_attempt_at=None,
                attempts=F("attempts") + 1,
            )
        for delivery, outcome in zip(batch, outcomes, strict=True):
            if outcome.ok:
                continue
            attempts = delivery.attempts + 1
            finished = now >= delivery.give_up_at
            await WebhookDelivery.filter(
                id=delivery.id, status=WebhookDeliveryStatus.PENDING
            ).update(
                status=WebhookDeliveryStatus.FAILED if finished else WebhookDeliveryStatus.PENDING,
                next_attempt_at=None
                if finished
                else min(now + backoff(attempts), delivery.give_up_at),
                attempts=attempts,
                last_attempt_at=now,
                last_response_status=outcome.status,
                last_error=outcome.error,
            )
        if by_status:
            await WebhookEndpoint.filter(id=endpoint.id).update(
                last_success_at=now, failing_since=None
            )
        elif endpoint.failing_since is None:
            await WebhookEndpoint.filter(id=endpoint.id, failing_since__isnull=True).update(
                failing_since=now
            )
