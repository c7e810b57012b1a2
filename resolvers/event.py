"""The event log: record an event in the change's transaction, publish it after commit."""

from __future__ import annotations

from typing import Any

from models.event import Event
from presta.tx import AfterCommit
from resolvers.actor import Actor


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
    """Store the event now; its envelope is published once the transaction commits."""
    event = await Event.create(
        topic=topic,
        marketplace_id=marketplace_id,
        object_type=object_type,
        object_id=object_id,
        audience=audience,
        payload=payload or {},
    )
    tx.publish(envelope(event))
    return event


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
        query = query.filter(marketplace_id=marketplace_id)
    return await query.order_by("id").limit(limit)


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
