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
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Iterable
from collections.abc import Set as AbstractSet
from contextlib import aclosing
from contextvars import ContextVar
from typing import Any, TypeVar

from graphql import GraphQLError

from presta import events
from presta.settings import settings
from presta.sharing import Shared
from resolvers.actor import Actor
from resolvers.company import still_colleague
from resolvers.events import (
    audience_keys,
    cursor_expired,
    envelope,
    event_cursor,
    events_after,
    latest_event_id,
)
from resolvers.staff import still_staff

T = TypeVar("T")

Authorize = Callable[[Actor, str, int], Awaitable[T | None]]
Load = Callable[[Actor, dict[str, Any]], Awaitable[T | None]]

# Set while a subscription is only being admitted (``schema.http.multiplex.admits``): its
# field runs up to ``follow``, which returns at once.
dry_run: ContextVar[bool] = ContextVar("dry_run", default=False)

CURSOR_EXPIRED = "CURSOR_EXPIRED"
SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
_REPLAY_BATCH = 500
# Subscriptions of the same actor that receive the same event share one access check and load
# (one query per event, not one per connection). A result is reused only this long, so a
# later replay of the same event re-checks access against the database.
_SHARE_SECONDS = 0.5
_shared: Shared[Any] = Shared(seconds=_SHARE_SECONDS, kept=4096)


async def follow(
    actor: Actor,
    *,
    topics: list[str],
    after: int | None,
    load: Load[T],
    share: Hashable | None = None,
) -> AsyncGenerator[tuple[int, T], None]:
    """Yield ``(event_id, object)`` for every event of ``topics`` the actor may see.

    ``load`` re-checks access on every event (a suspended provider stops receiving at once)
    and returns None to skip it. Its result for one event is shared by the subscriptions of
    an equal actor with the same ``share`` key (default: the ``load`` function itself, so a
    closure shares nothing unless it names what it depends on): ``load`` must depend only on
    the actor, the envelope and that key, and its result must not be mutated per subscriber.
    """
    if dry_run.get():
        return
    key = share if share is not None else load
    mine = audience_keys(actor)
    sharer = _Sharer(actor)
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
                    replay = _replay(sharer, mine, topics, last_seen, load, key)
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
                # The hub only hands over envelopes naming one of ``mine``.
                item = await _visible(sharer, None, message, load, key)
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


class _Sharer:
    """An actor as part of a share key: equal when the actors are equal, hashed once (an
    actor's hash walks all its fields and roles, and the key is looked up for every event)."""

    __slots__ = ("_hash", "actor")

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self._hash = hash(actor)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Sharer) and (other is self or other.actor == self.actor)


async def _replay(
    sharer: _Sharer,
    mine: set[str],
    topics: list[str],
    after: int,
    load: Load[T],
    key: Hashable,
) -> AsyncGenerator[tuple[int, T | None], None]:
    """Every logged event after ``after``, in batches, with the visible object or None."""
    while True:
        batch = await events_after(
            after=after,
            topics=topics,
            marketplace_id=sharer.actor.marketplace_id,
            limit=_REPLAY_BATCH,
        )
        for event in batch:
            after = event.id
            yield event.id, await _visible(sharer, mine, envelope(event), load, key)
        if len(batch) < _REPLAY_BATCH:
            return


async def _visible(
    sharer: _Sharer,
    mine: set[str] | None,
    envelope: dict[str, Any],
    load: Load[T],
    key: Hashable,
) -> T | None:
    """``mine`` is None when the audience was already matched (live envelopes)."""
    audience = envelope.get("audience") or ()
    if not addressed_to(
        audience, envelope.get("marketplace_id"), mine, sharer.actor.marketplace_id
    ):
        return None
    return await _shared_load(sharer, envelope, load, key)


def addressed_to(
    audience: Iterable[str], of: int | None, keys: AbstractSet[str] | None, marketplace: Any
) -> bool:
    """Whether an event for ``audience`` in marketplace ``of`` is for a subscriber with these
    audience keys (None: already matched) acting in ``marketplace`` (events of no marketplace
    follow the viewer everywhere). Give ``audience`` as a set where it is asked many times."""
    if keys is not None and keys.isdisjoint(audience):
        return False
    return of in (None, marketplace)


async def _shared_load(
    sharer: _Sharer, envelope: dict[str, Any], load: Load[T], key: Hashable
) -> T | None:
    """``load(actor, envelope)``, computed once for every subscription asking within
    ``_SHARE_SECONDS`` with an equal actor and the same key."""
    found: T | None = await _shared.get(
        (envelope["id"], key, sharer), lambda: _load_while_allowed(sharer.actor, envelope, load)
    )
    return found


async def _load_while_allowed(actor: Actor, envelope: dict[str, Any], load: Load[T]) -> T | None:
    # The actor was built when the subscription started: a staff member removed (or given
    # another role), or a provider user taken off its company's account, since then sees
    # nothing more. Checked at most once a second per role, not once per event.
    if actor.staff_role is not None:
        role = (actor.user_id, actor.marketplace_id, actor.staff_role)
        if not await _roles_held.get(role, lambda: still_staff(actor)):
            return None
    elif actor.membership_id is not None and actor.user_id is not None:
        colleague = ("colleague", actor.user_id, actor.company_id)
        if not await _roles_held.get(colleague, lambda: still_colleague(actor)):
            return None
    return await load(actor, envelope)


_roles_held: Shared[bool] = Shared(seconds=1.0, kept=4096)


def encode_event_cursor(event_id: int) -> str:
    return event_cursor(event_id)


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
