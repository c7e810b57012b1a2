"""The event log: record an event in the change's transaction, publish it after commit."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from tortoise import timezone
from tortoise.expressions import Q

from models.events import Event
from models.webhook import WebhookEndpoint, WebhookEndpointStatus
from presta import db, events
from presta.tx import AfterCommit
from resolvers.actor import Actor

# Event ids must become visible in id order, or a subscriber that has seen id 11 skips id 10
# committed just after it: event-recording transactions queue here from their first event to
# their commit.
_EVENT_ORDER_LOCK = 7_310_001


async def record_event(
    tx: AfterCommit,
    *,
    topic: str,
    marketplace_id: int | None,
    object_type: str,
    object_id: int,
    audience: list[str],
    payload: dict[str, Any] | None = None,
) -> Event:
    """Store the event now; its envelope is published once the transaction commits.

    The first event of a transaction takes the order lock, which every other transaction
    recording an event then waits for until this one commits: one statement takes the lock,
    inserts the event and asks whether the marketplace has webhook endpoints, and the jobs
    enqueued so far go to the outbox before it (``AfterCommit.record_jobs``). Use cases record
    their events last, so that the lock is held for that statement and the commit only.
    """
    values: dict[str, Any] = {
        "topic": topic,
        "marketplace_id": marketplace_id,
        "object_type": object_type,
        "object_id": object_id,
        "audience": audience,
        "payload": payload or {},
    }
    if tx.envelopes:
        event = await Event.create(**values)
        if marketplace_id is not None and marketplace_id not in tx.webhooks_checked:
            webhooks = await WebhookEndpoint.filter(
                marketplace_id=marketplace_id, status=WebhookEndpointStatus.ACTIVE
            ).exists()
            _fan_out_to_webhooks(tx, marketplace_id, webhooks)
    else:
        await tx.record_jobs()
        event, webhooks = await _first_event(values)
        if marketplace_id is not None:
            _fan_out_to_webhooks(tx, marketplace_id, webhooks)
    tx.publish(envelope(event))
    return event


async def _first_event(values: dict[str, Any]) -> tuple[Event, bool]:
    """Take the order lock, insert the event and look for the marketplace's webhook
    endpoints, in one round trip."""
    created_at = timezone.now()
    [row] = await db.rows(
        "WITH ordered AS (SELECT pg_advisory_xact_lock(:key)),"
        " inserted AS (INSERT INTO event (topic, marketplace_id, object_type, object_id,"
        " audience, payload, created_at) SELECT :topic, :marketplace_id, :object_type,"
        " :object_id, CAST(:audience AS jsonb), CAST(:payload AS jsonb), :created_at"
        " FROM ordered RETURNING id)"
        " SELECT id, EXISTS (SELECT 1 FROM webhook_endpoint"
        " WHERE marketplace_id = :marketplace_id AND status = :active) AS webhooks"
        " FROM inserted",
        key=_EVENT_ORDER_LOCK,
        created_at=created_at,
        active=WebhookEndpointStatus.ACTIVE.value,
        **{
            **values,
            "audience": orjson.dumps(values["audience"]).decode(),
            "payload": orjson.dumps(values["payload"]).decode(),
        },
    )
    event = Event(id=row["id"], created_at=created_at, **values)
    event._saved_in_db = True  # a later save() updates the row
    return event, bool(row["webhooks"])


def _fan_out_to_webhooks(tx: AfterCommit, marketplace_id: int, webhooks: bool) -> None:
    """After commit, a job turns the marketplace's new events into webhook deliveries
    (``resolvers.webhook``): once per transaction and marketplace, and only where an endpoint
    listens (its outbox row is then written under the order lock: one statement more for
    those marketplaces only)."""
    if marketplace_id in tx.webhooks_checked:
        return
    tx.webhooks_checked.add(marketplace_id)
    if webhooks:
        tx.enqueue("fan_out_webhooks", marketplace_id=marketplace_id)


def event_cursor(event_id: int) -> str:
    """The opaque cursor of an event: subscriptions take it as ``after``."""
    return base64.urlsafe_b64encode(f"e:{event_id}".encode()).decode()


def envelope(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "topic": event.topic,
        "marketplace_id": event.marketplace_id,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "audience": event.audience,
    }


async def events_after(
    *, after: int, topics: list[str], marketplace_id: int | None, limit: int = 500
) -> list[Event]:
    """Replay from the log (subscriptions resuming from a cursor)."""
    query = Event.filter(id__gt=after, topic__in=topics)
    if marketplace_id is not None:
        # Events of no marketplace (the viewer's own account) follow the viewer everywhere.
        query = query.filter(Q(marketplace_id=marketplace_id) | Q(marketplace_id__isnull=True))
    return await query.order_by("id").limit(limit)


async def latest_event_id() -> int:
    """Where a subscription without a cursor starts: after the last event recorded."""
    last = await Event.all().order_by("-id").only("id").first()
    return last.id if last is not None else 0


async def _committed_between(after: int, before: int) -> list[dict[str, Any]]:
    """The envelopes of the events committed with ``after < id < before`` (at most
    ``events.FILL_MAX``): a gap the live hub fills from the log."""
    found = Event.filter(id__gt=after, id__lt=before).order_by("id").limit(events.FILL_MAX)
    return [envelope(event) for event in await found]


events.fill_gaps(_committed_between, latest_event_id)


async def cursor_expired(after: int) -> bool:
    """A cursor is expired when events after it may have been purged by retention."""
    if after <= 0 or await Event.exists(id=after):
        return False
    first = await Event.all().order_by("id").only("id").first()
    return first is None or after < first.id - 1


def audience_keys(actor: Actor) -> set[str]:
    """The audience keys an actor belongs to, for the acting marketplace."""
    keys: set[str] = set()
    if actor.user_id is not None:
        keys.add(f"user:{actor.user_id}")
    if actor.marketplace_id is not None:
        if actor.sees_whole_marketplace:
            keys.add(f"staff:{actor.marketplace_id}")
        if actor.membership_id is not None:
            keys.add(f"membership:{actor.membership_id}")
        if actor.client_id is not None:
            keys.add(f"client:{actor.client_id}")
    return keys


def staff_audience(marketplace_id: int) -> str:
    return f"staff:{marketplace_id}"
