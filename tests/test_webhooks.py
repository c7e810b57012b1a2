"""Webhooks end to end: events recorded in a marketplace reach a real HTTP receiver on
loopback, signed per Standard Webhooks (verified with the reference library), retried with
backoff from database deadlines, once per endpoint and event, in order when asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from models.webhook import WebhookDelivery, WebhookDeliveryStatus
from presta import clock, jobs
from presta.settings import settings
from resolvers.catalog import SERVICE_UPDATED, create_service
from resolvers.errors import UserError
from resolvers.events import event_cursor
from resolvers.intervention import INTERVENTION_UPDATED
from resolvers.marketplace import MARKETPLACE_UPDATED
from resolvers.staff import STAFF_UPDATED
from resolvers.webhook.endpoint import (
    WebhookErrorCode,
    redeliver_webhook,
    rotate_webhook_secret,
    signing_secret,
    update_webhook_endpoint,
)
from resolvers.webhook.fanout import fan_out_endpoint, global_id, recover_webhook_events
from resolvers.webhook.sender import backoff, send_webhooks
from resolvers.webhook.sweep import sweep_webhooks
from tests.factories.webhook import deliveries_of, event_ids, hooked, record_events
from tests.support.webhook_receiver import Answer, Receiver


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    monkeypatch.setattr(settings(), "webhook_allow_loopback", True)
    monkeypatch.setattr(settings(), "webhook_timeout_seconds", 0.5)
    async with Receiver() as r:
        yield r


def headers_of(request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.startswith("webhook-")}


async def retry_later(minutes: float = 400) -> None:
    """Move past any backoff and let the sweep send what fell due."""
    clock.advance(timedelta(minutes=minutes))
    await sweep_webhooks()
    await jobs.drain()


async def test_an_event_reaches_the_receiver_signed_and_verified_by_the_reference_library(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    assert h.secret.startswith("whsec_")
    service = await create_service(h.admin, name="Ironing")
    await jobs.drain()

    [request] = receiver.received
    payload = Webhook(h.secret).verify(request.body, request.headers)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"].startswith("msg_")
    assert payload["type"] == SERVICE_UPDATED
    data = payload["data"]
    assert data["topic"] == SERVICE_UPDATED
    assert data["objectType"] == "Service"
    assert data["objectId"] == global_id("Service", service.id)
    assert data["cursor"] == event_cursor(data["eventId"])
    assert data["marketplaceId"] == global_id("Marketplace", h.marketplace.id)
    [delivery] = await deliveries_of(h.endpoint)
    assert delivery.status is WebhookDeliveryStatus.DELIVERED
    assert delivery.message_id == request.webhook_id
    assert (delivery.attempts, delivery.last_response_status) == (1, 204)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(request.body, request.headers)


async def test_the_secret_is_stored_sealed_and_still_signs(receiver: Receiver) -> None:
    h = await hooked(receiver.url)
    raw = h.secret.removeprefix("whsec_")
    await h.endpoint.refresh_from_db()
    assert raw not in h.endpoint.sealed_secret
    assert h.endpoint.sealed_secret.startswith("v1:")
    assert signing_secret(h.endpoint) == h.secret


async def test_an_endpoint_receives_only_the_event_types_it_asked_for(receiver: Receiver) -> None:
    h = await hooked(receiver.url, events=[INTERVENTION_UPDATED])
    await record_events(h.marketplace.id, 2)
    await record_events(h.marketplace.id, 1, topic=INTERVENTION_UPDATED)
    [request] = receiver.received
    assert orjson.loads(request.body)["type"] == INTERVENTION_UPDATED


async def test_an_endpoint_without_a_topic_list_gets_no_staff_only_topic(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    await record_events(h.marketplace.id, 1, topic=STAFF_UPDATED)
    await record_events(h.marketplace.id, 1, topic=MARKETPLACE_UPDATED)
    await record_events(h.marketplace.id, 1)
    [request] = receiver.received
    assert orjson.loads(request.body)["type"] == SERVICE_UPDATED


async def test_events_of_other_marketplaces_and_before_creation_are_not_sent(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    other = await hooked(receiver.url)
    await record_events(other.marketplace.id, 1)
    await record_events(h.marketplace.id, 1)
    assert len(receiver.received) == 2
    later = await hooked(receiver.url)
    assert await deliveries_of(later.endpoint) == []


async def test_a_delivery_is_retried_after_500s_and_time_outs_under_the_same_webhook_id(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    receiver.queue = [Answer(status=500), Answer(delay=1.5)]
    await record_events(h.marketplace.id, 1)
    [delivery] = await deliveries_of(h.endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_response_status) == (
        WebhookDeliveryStatus.PENDING,
        1,
        500,
    )
    assert delivery.next_attempt_at is not None
    wait = delivery.next_attempt_at - clock.now()
    assert timedelta(seconds=2) <= wait <= timedelta(seconds=6)

    await retry_later(minutes=1)
    await delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_error) == (2, "timed out")
    await retry_later(minutes=1)
    await delivery.refresh_from_db()
    assert delivery.status is WebhookDeliveryStatus.DELIVERED
    assert delivery.attempts == 3
    assert {r.webhook_id for r in receiver.received} == {delivery.message_id}
    assert len(receiver.received) == 3
    for request in receiver.received:
        Webhook(h.secret).verify(request.body, request.headers)


def test_backoff_doubles_up_to_its_ceiling_with_jitter() -> None:
    base, ceiling = settings().webhook_backoff_base_seconds, settings().webhook_backoff_max_seconds
    for attempts in (1, 2, 5, 30):
        cap = min(ceiling, base * 2 ** (attempts - 1))
        waits = {backoff(attempts).total_seconds() for _ in range(50)}
        assert all(cap / 2 <= w <= cap for w in waits)
        assert len(waits) > 1


async def test_a_delivery_gives_up_once_its_retry_window_closed(receiver: Receiver) -> None:
    h = await hooked(receiver.url)
    receiver.answer = Answer(status=503)
    await record_events(h.marketplace.id, 1)
    for _ in range(40):
        await retry_later(minutes=6 * 60)
        [delivery] = await deliveries_of(h.endpoint)
        if delivery.status is not WebhookDeliveryStatus.PENDING:
            break
    assert delivery.status is WebhookDeliveryStatus.FAILED
    assert delivery.next_attempt_at is None
    assert delivery.last_attempt_at is not None
    assert timedelta(0) <= delivery.last_attempt_at - delivery.give_up_at < timedelta(hours=7)
    attempts = len(receiver.received)
    await retry_later(minutes=6 * 60)
    assert len(receiver.received) == attempts == delivery.attempts


async def test_a_receiver_down_for_a_while_gets_everything_after_in_event_order(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url, ordered=True)
    await receiver.stop()
    events = await record_events(h.marketplace.id, 6)
    rows = await deliveries_of(h.endpoint)
    # The first was tried and failed; the later ones wait for it.
    assert [r.attempts for r in rows] == [1, 0, 0, 0, 0, 0]
    await retry_later()
    assert [r.attempts for r in await deliveries_of(h.endpoint)] == [2, 0, 0, 0, 0, 0]

    await receiver.start()
    await retry_later()
    assert event_ids(receiver.bodies()) == [e.id for e in events]
    assert {r.status for r in await deliveries_of(h.endpoint)} == {WebhookDeliveryStatus.DELIVERED}


async def test_an_ordered_endpoint_holds_later_deliveries_while_an_earlier_one_is_retried(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url, ordered=True)
    receiver.fail_next(2)
    events = await record_events(h.marketplace.id, 3)
    assert event_ids(receiver.bodies()) == [events[0].id]
    await retry_later()
    await retry_later()
    ids = event_ids(receiver.bodies())
    assert ids == [events[0].id, events[0].id, events[0].id, events[1].id, events[2].id]


async def test_an_unordered_endpoint_gets_everything_after_an_outage(receiver: Receiver) -> None:
    h = await hooked(receiver.url)
    await receiver.stop()
    events = await record_events(h.marketplace.id, 5)
    assert all(r.attempts == 1 for r in await deliveries_of(h.endpoint))
    await receiver.start()
    await retry_later()
    assert sorted(event_ids(receiver.bodies())) == [e.id for e in events]


async def test_each_event_is_delivered_once_per_endpoint_whoever_fans_out_or_sends(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    receiver.answer = Answer(delay=0.05)
    events = await record_events(h.marketplace.id, 10, one_tx=True)
    h.endpoint.fanned_out_to = 0
    await h.endpoint.save(update_fields=["fanned_out_to"])
    await WebhookDelivery.filter(endpoint_id=h.endpoint.id).update(
        status=WebhookDeliveryStatus.PENDING, next_attempt_at=clock.now()
    )
    receiver.received.clear()
    await asyncio.gather(fan_out_endpoint(h.endpoint.id), fan_out_endpoint(h.endpoint.id))
    await asyncio.gather(*(send_webhooks(h.endpoint.id) for _ in range(4)), sweep_webhooks())
    await jobs.drain()
    assert len(await deliveries_of(h.endpoint)) == 10
    assert sorted(event_ids(receiver.bodies())) == [e.id for e in events]


async def test_a_transaction_of_several_events_starts_one_fan_out(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await hooked(receiver.url)
    enqueued: list[str] = []
    real = jobs.enqueue

    async def spy(name: str, **kwargs: object) -> None:
        enqueued.append(name)
        await real(name, **kwargs)

    monkeypatch.setattr(jobs, "enqueue", spy)
    await record_events(h.marketplace.id, 4, one_tx=True)
    assert enqueued.count("fan_out_webhooks") == 1
    assert len(receiver.received) == 4


async def test_a_secret_rotated_with_no_grace_signs_what_follows_and_the_old_one_stops(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    await record_events(h.marketplace.id, 1)
    _, new_secret = await rotate_webhook_secret(
        h.admin, endpoint_id=h.endpoint.id, previous_valid_hours=0
    )
    assert new_secret != h.secret
    await record_events(h.marketplace.id, 1)
    before, after = receiver.received
    Webhook(h.secret).verify(before.body, before.headers)
    Webhook(new_secret).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(h.secret).verify(after.body, after.headers)


async def test_after_a_rotation_both_secrets_verify_for_the_grace_period_then_the_new_one_only(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    endpoint, new_secret = await rotate_webhook_secret(
        h.admin, endpoint_id=h.endpoint.id, previous_valid_hours=2
    )
    expires = endpoint.previous_secret_expires_at
    assert expires is not None
    assert timedelta(hours=2) - timedelta(minutes=1) < expires - clock.now() <= timedelta(hours=2)
    await record_events(h.marketplace.id, 1)
    clock.advance(timedelta(hours=2, seconds=1))
    await record_events(h.marketplace.id, 1)

    during, later = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(h.secret).verify(during.body, during.headers)
    Webhook(new_secret).verify(during.body, during.headers)
    Webhook(new_secret).verify(later.body, later.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(h.secret).verify(later.body, later.headers)


@pytest.mark.parametrize("hours", [-1, 169])
async def test_a_grace_period_out_of_range_is_refused_and_the_secret_stays(hours: int) -> None:
    h = await hooked("https://hooks.example.test/presta")
    with pytest.raises(UserError) as refused:
        await rotate_webhook_secret(h.admin, endpoint_id=h.endpoint.id, previous_valid_hours=hours)
    assert refused.value.field == "previousSecretValidHours"
    await h.endpoint.refresh_from_db()
    assert signing_secret(h.endpoint) == h.secret
    assert h.endpoint.previous_sealed_secret is None


async def test_redelivering_sends_again_under_the_same_webhook_id(receiver: Receiver) -> None:
    h = await hooked(receiver.url)
    await record_events(h.marketplace.id, 1)
    [delivery] = await deliveries_of(h.endpoint)
    again = await redeliver_webhook(h.admin, delivery_id=delivery.id)
    assert again.status is WebhookDeliveryStatus.PENDING
    await jobs.drain()
    first, second = receiver.received
    assert first.webhook_id == second.webhook_id == delivery.message_id
    assert first.body == second.body
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDeliveryStatus.DELIVERED, 2)


async def test_the_events_recorded_while_an_endpoint_was_disabled_are_recovered_once(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    before = await record_events(h.marketplace.id, 1)
    await update_webhook_endpoint(h.admin, endpoint_id=h.endpoint.id, enabled=False)
    missed = await record_events(h.marketplace.id, 3)
    await update_webhook_endpoint(h.admin, endpoint_id=h.endpoint.id, enabled=True)
    after = await record_events(h.marketplace.id, 1)
    assert event_ids(receiver.bodies()) == [before[0].id, after[0].id]

    since = clock.now() - timedelta(hours=1)
    recovered = await recover_webhook_events(h.admin, endpoint_id=h.endpoint.id, since=since)
    await jobs.drain()
    again = await recover_webhook_events(h.admin, endpoint_id=h.endpoint.id, since=since)

    assert (recovered, again) == (3, 0)
    assert sorted(event_ids(receiver.bodies())[2:]) == [e.id for e in missed]
    for request in receiver.received[2:]:
        Webhook(h.secret).verify(request.body, request.headers)


@pytest.mark.parametrize("days_ago", [31, None])
async def test_recovering_from_past_the_retention_or_without_an_offset_is_refused(
    days_ago: int | None,
) -> None:
    h = await hooked("https://hooks.example.test/presta")
    since = (
        clock.now() - timedelta(days=days_ago)
        if days_ago is not None
        else clock.now().replace(tzinfo=None)
    )
    with pytest.raises(UserError) as refused:
        await recover_webhook_events(h.admin, endpoint_id=h.endpoint.id, since=since)
    assert (refused.value.code, refused.value.field) == (WebhookErrorCode.OUT_OF_RANGE, "since")


async def test_a_disabled_endpoint_recovers_nothing_until_it_is_enabled() -> None:
    h = await hooked("https://hooks.example.test/presta")
    await update_webhook_endpoint(h.admin, endpoint_id=h.endpoint.id, enabled=False)
    with pytest.raises(UserError) as refused:
        await recover_webhook_events(
            h.admin, endpoint_id=h.endpoint.id, since=clock.now() - timedelta(hours=1)
        )
    assert refused.value.code == WebhookErrorCode.ENDPOINT_DISABLED
    assert await deliveries_of(h.endpoint) == []
