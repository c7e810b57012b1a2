"""Subscriptions: replay from the event log after a cursor, then follow live, with no gap.

The listener is attached before the replay query runs, and every event id is delivered at most
once in increasing order, so an event committed during the replay is neither lost nor repeated.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

from graphql import GraphQLError

from presta import events
from resolvers.actor import Actor
from resolvers.event import audience_keys, events_after

T = TypeVar("T")

Authorize = Callable[[Actor, str, int], Awaitable[T | None]]


async def follow(
    actor: Actor,
    *,
    topics: list[str],
    after: int | None,
    load: Callable[[Actor, dict[str, Any]], Awaitable[T | None]],
) -> AsyncGenerator[tuple[int, T], None]:
    """Yield ``(event_id, object)`` for every event of ``topics`` the actor may see.

    ``load`` re-checks access on every event (a suspended provider stops receiving at once)
    and returns None to skip it.
    """
    mine = audience_keys(actor)
    last_seen = after or 0
    async with events.listen() as live:
        if after is not None:
            for event in await events_after(
                after=after, topics=topics, marketplace_id=actor.marketplace_id
            ):
                last_seen = event.id
                envelope = {
                    "id": event.id,
                    "topic": event.topic,
                    "object_type": event.object_type,
                    "object_id": event.object_id,
                    "audience": event.audience,
                    "marketplace_id": event.marketplace_id,
                }
                item = await _visible(actor, mine, envelope, load)
                if item is not None:
                    yield event.id, item
        async for envelope in live:
            if envelope["topic"] not in topics or envelope["id"] <= last_seen:
                continue
            last_seen = envelope["id"]
            item = await _visible(actor, mine, envelope, load)
            if item is not None:
                yield envelope["id"], item


async def _visible(
    actor: Actor,
    mine: set[str],
    envelope: dict[str, Any],
    load: Callable[[Actor, dict[str, Any]], Awaitable[T | None]],
) -> T | None:
    if mine.isdisjoint(envelope.get("audience", ())):
        return None
    if envelope.get("marketplace_id") not in (None, actor.marketplace_id):
        return None
    return await load(actor, envelope)


def encode_event_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"e:{event_id}".encode()).decode()


def decode_event_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "e":
            raise ValueError(kind)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise GraphQLError(
            "Malformed event cursor.", extensions={"code": "BAD_USER_INPUT"}
        ) from None
