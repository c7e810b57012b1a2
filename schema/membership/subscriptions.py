"""The live feed of membership changes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from resolvers import membership as use_cases
from resolvers.actor import Actor
from resolvers.terms import TERMS_PUBLISHED
from schema.base import After
from schema.context import Info
from schema.http.live import decode_event_cursor, encode_event_cursor, follow
from schema.membership.types import Membership


@strawberry.type(description="A provider's membership changed.")
class MembershipEvent:
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    membership: Membership = strawberry.field(description="The membership as it now is.")


async def _load_membership(actor: Actor, envelope: dict[str, Any]) -> Membership | None:
    object_id = envelope["object_id"]
    if envelope.get("topic") == TERMS_PUBLISHED:
        # New terms change every provider's file: each provider sees its own (staff see the
        # terms themselves elsewhere).
        if actor.membership_id is None:
            return None
        object_id = actor.membership_id
    found = await use_cases.visible_memberships(actor, [object_id])
    return Membership.from_model(found[0]) if found else None


@strawberry.type
class MembershipSubscription:
    @strawberry.subscription(
        description="Status changes of memberships, live: staff see every provider of the "
        "marketplace, a provider its own file (also when new terms of use await its "
        "acceptance, and when their grace period ends). `after` replays what was missed."
    )
    async def membership_updated(
        self,
        info: Info,
        after: After = None,
    ) -> AsyncGenerator[MembershipEvent, None]:
        actor = info.context.actor
        actor.require_marketplace()
        async for event_id, membership in follow(
            actor,
            topics=[use_cases.MEMBERSHIP_UPDATED, TERMS_PUBLISHED],
            after=decode_event_cursor(after),
            load=_load_membership,
        ):
            yield MembershipEvent(cursor=encode_event_cursor(event_id), membership=membership)
