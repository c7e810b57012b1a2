"""Subscriptions: replay from the event log after a cursor, then follow live, with no gap.

The listener is attached before the log is read, and every event id is delivered at most once
in increasing order, so an event committed during the replay is neither lost nor repeated.
Whenever live delivery may have missed something (Redis reconnected, a publish failed, the
queue overflowed while the server lagged behind a burst) the log is read again from the last
event delivered.

Errors a client acts on (``extensions.code``): ``CURSOR_EXPIRED`` (the cursor is older than
the retention window: reload, then subscribe without a cursor) and ``SUBSCRIBER_TOO_SLOW``
(the client stopped reading while its queue overflowed: subscribe again with the last cursor
it received).
Both arrive as a ``next`` message with ``errors``, followed by ``complete``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, TypeVar

from graphql import GraphQLError

from presta import events
from presta.settings import settings
from resolvers.actor import Actor
from resolvers.event import (
    audience_keys,
    cursor_expired,
    envelope,
    events_after,
    latest_event_id,
)

T = TypeVar("T")

Authorize = Callable[[Actor, str, int], Awaitable[T | None]]
Load = Callable[[Actor, dict[str, Any]], Awaitable[T | None]]

CURSOR_EXPIRED = "CURSOR_EXPIRED"
SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
_REPLAY_BATCH = 500


async def follow(
    actor: Actor,
    *,
    topics: list[str],
    after: int | None,
    load: Load[T],
) -> AsyncGenerator[tuple[int, T], None]:
    """Yield ``(event_id, object)`` for every event of ``topics`` the actor may see.

    ``load`` re-checks access on every event (a suspended provider stops receiving at once)
    and returns None to skip it.
    """
    mine = audience_keys(actor)
    if after is not None and await cursor_expired(after):
        raise GraphQLError(
            f"This cursor is older than the {settings().event_retention_days}-day retention "
            "window; reload the data, then subscribe without a cursor.",
            extensions={"code": CURSOR_EXPIRED},
        )
    async with events.listen(topics=topics, audience=mine) as live:
        last_seen = after if after is not None else await latest_event_id()
        must_replay = after is not None
        try:
            while True:
                if must_replay:
                    # Live envelopes wait meanwhile; if they overflow, the next one is RESYNC.
                    must_replay = False
                    replay = _replay(actor, mine, topics, last_seen, load)
                    async with aclosing(replay):
                        async for event_id, item in replay:
                            last_seen = event_id
                            if item is not None:
                                live.turn_begins()
                                yield event_id, item
                                live.turn_ends()
                    continue
                message = await live.__anext__()
                if message is events.RESYNC:
                    must_replay = True
                    continue
                assert isinstance(message, dict)
                if message["id"] <= last_seen:
                    continue
                last_seen = message["id"]
                item = await _visible(actor, mine, message, load)
                if item is not None:
                    live.turn_begins()
                    yield last_seen, item
                    live.turn_ends()
        except events.SubscriberTooSlow:
            raise GraphQLError(
                "The subscriber did not keep up with its events; subscribe again with the "
                "last cursor received to resume.",
                extensions={"code": SUBSCRIBER_TOO_SLOW},
            ) from None


async def _replay(
    actor: Actor, mine: set[str], topics: list[str], after: int, load: Load[T]
) -> AsyncGenerator[tuple[int, T | None], None]:
    """Every logged event after ``after``, in batches, with the visible object or None."""
    while True:
        batch = await events_after(
            after=after, topics=topics, marketplace_id=actor.marketplace_id, limit=_REPLAY_BATCH
        )
        for event in batch:
            after = event.id
            yield event.id, await _visible(actor, mine, envelope(event), load)
        if len(batch) < _REPLAY_BATCH:
            return


async def _visible(
    actor: Actor,
    mine: set[str],
    envelope: dict[str, Any],
    load: Load[T],
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
