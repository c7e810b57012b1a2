"""interventionUpdated, providerServiceUpdated and marketplaceEvents over a real websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import websockets
from websockets.typing import Subprotocol

from models.catalog import ProviderServiceStatus
from models.events import Event
from models.membership import Membership, MembershipStatus
from presta import clock, events
from presta.security import make_access_token
from presta.settings import settings
from resolvers import catalog, intervention
from resolvers.housekeeping import purge_expired_events
from schema.http.live import decode_event_cursor, encode_event_cursor
from tests.factories.account import make_client
from tests.factories.catalog import make_service, offer
from tests.factories.messaging import make_cast, make_intervention, other_provider_of
from tests.support.graphql import serving

WS_PROTOCOL = Subprotocol("graphql-transport-ws")
VISITS = """subscription($after: String) {
  interventionUpdated(after: $after) { cursor intervention { id status startsAt } }
}"""
SERVICES = """subscription($after: String) {
  providerServiceUpdated(after: $after) { cursor providerService { id status reason } }
}"""
EVERYTHING = """subscription($after: String, $topics: [String!]) {
  marketplaceEvents(after: $after, topics: $topics) { cursor topic subjectId change occurredAt }
}"""


class Socket:
    """One graphql-transport-ws connection running one subscription."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def next(self, within: float = 5.0) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=within))
        assert message["type"] in ("next", "error", "complete"), message
        return dict(message)

    async def nothing(self, within: float = 0.7) -> None:
        with contextlib.suppress(TimeoutError):
            message = await asyncio.wait_for(self.ws.recv(), timeout=within)
            raise AssertionError(f"unexpected {message}")


@contextlib.asynccontextmanager
async def subscribed(
    port: int, user_id: int, slug: str, query: str, **variables: Any
) -> AsyncIterator[Socket]:
    before = events.stats()["subscribers"]
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/graphql", subprotocols=[WS_PROTOCOL], open_timeout=5
    ) as ws:
        token, _ = make_access_token(user_id)
        init = {"authorization": f"Bearer {token}", "marketplace": slug}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
        assert ack["type"] == "connection_ack", ack
        payload = {"query": query, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        for _ in range(100):
            if events.stats()["subscribers"] > before:
                break
            await asyncio.sleep(0.02)
        yield Socket(ws)


async def _move(actor: Any, visit_id: int, days: int) -> None:
    start = clock.now() + timedelta(days=days)
    await intervention.reschedule_intervention(
        actor, intervention_id=visit_id, starts_at=start, ends_at=start + timedelta(hours=1)
    )


async def test_each_party_follows_the_visits_it_may_see_and_staff_the_whole_marketplace():
    cast = await make_cast()
    other, other_user = await other_provider_of(cast.marketplace)
    mine = await make_intervention(cast.membership, cast.client)
    theirs = await make_intervention(other, await make_client(cast.marketplace))
    staff = await cast.staff_actor()
    slug = cast.marketplace.slug
    async with (
        serving() as port,
        subscribed(port, cast.provider.id, slug, VISITS) as provider,
        subscribed(port, cast.client_user.id, slug, VISITS) as client,
        subscribed(port, other_user.id, slug, VISITS) as stranger,
        subscribed(port, cast.staff.id, slug, EVERYTHING) as dashboard,
    ):
        await _move(staff, theirs.id, 3)
        await _move(staff, mine.id, 4)
        got = (await provider.next())["payload"]["data"]["interventionUpdated"]
        assert got["intervention"]["startsAt"].startswith(
            (clock.now() + timedelta(days=4)).date().isoformat()
        )
        assert (await client.next())["payload"]["data"]["interventionUpdated"] == got
        theirs_seen = (await stranger.next())["payload"]["data"]["interventionUpdated"]
        assert theirs_seen["intervention"]["id"] != got["intervention"]["id"]
        board = [(await dashboard.next())["payload"]["data"]["marketplaceEvents"] for _ in "ab"]
        assert [(e["topic"], e["change"]) for e in board] == [
            ("intervention.updated", "rescheduled")
        ] * 2
        assert [e["subjectId"] for e in board] == [
            theirs_seen["intervention"]["id"],
            got["intervention"]["id"],
        ]
        await provider.nothing()
        await stranger.nothing()


async def test_a_provider_removed_from_the_marketplace_stops_receiving_its_visits_at_once():
    cast = await make_cast()
    visit = await make_intervention(cast.membership, cast.client)
    staff = await cast.staff_actor()
    async with (
        serving() as port,
        subscribed(port, cast.provider.id, cast.marketplace.slug, VISITS) as provider,
    ):
        await _move(staff, visit.id, 3)
        assert (await provider.next())["payload"]["data"]["interventionUpdated"]
        await Membership.filter(id=cast.membership.id).update(status=MembershipStatus.DELETED)
        await _move(staff, visit.id, 5)
        await provider.nothing()


async def test_a_subscriber_resumes_after_its_cursor_without_gap_or_duplicate():
    cast = await make_cast()
    visit = await make_intervention(cast.membership, cast.client)
    staff = await cast.staff_actor()
    slug = cast.marketplace.slug
    async with serving() as port:
        async with subscribed(port, cast.provider.id, slug, VISITS) as first:
            await _move(staff, visit.id, 3)
            cursor = (await first.next())["payload"]["data"]["interventionUpdated"]["cursor"]
        # Missed while disconnected.
        await _move(staff, visit.id, 4)
        await _move(staff, visit.id, 5)
        async with subscribed(port, cast.provider.id, slug, VISITS, after=cursor) as again:
            replayed = [
                (await again.next())["payload"]["data"]["interventionUpdated"] for _ in "ab"
            ]
            # Each missed event once, in order; each shows the visit as it now is.
            logged = await Event.filter(topic="intervention.updated").order_by("id")
            assert [decode_event_cursor(r["cursor"]) for r in replayed] == [
                e.id for e in logged[1:]
            ]
            assert {r["intervention"]["startsAt"][:10] for r in replayed} == {
                (clock.now() + timedelta(days=5)).date().isoformat()
            }
            await _move(staff, visit.id, 6)
            live = (await again.next())["payload"]["data"]["interventionUpdated"]
            assert live["intervention"]["startsAt"][:10] == (
                (clock.now() + timedelta(days=6)).date().isoformat()
            )
            await again.nothing()


async def test_a_cursor_older_than_the_retention_window_is_refused_as_expired():
    cast = await make_cast()
    visit = await make_intervention(cast.membership, cast.client)
    staff = await cast.staff_actor()
    await _move(staff, visit.id, 3)
    await _move(staff, visit.id, 4)
    first = await Event.all().order_by("id").first()
    assert first is not None
    clock.advance(timedelta(days=settings().event_retention_days + 1))
    try:
        await _move(staff, visit.id, 5)
        await purge_expired_events()
    finally:
        clock.reset()
    async with (
        serving() as port,
        subscribed(
            port,
            cast.staff.id,
            cast.marketplace.slug,
            EVERYTHING,
            after=encode_event_cursor(first.id),
        ) as late,
    ):
        answer = await late.next()
        assert answer["payload"]["errors"][0]["extensions"]["code"] == "CURSOR_EXPIRED"


async def test_a_provider_follows_its_services_being_decided_and_staff_every_providers():
    cast = await make_cast()
    other, other_user = await other_provider_of(cast.marketplace)
    service = await make_service(cast.marketplace)
    applied = await offer(cast.membership, service, ProviderServiceStatus.PENDING)
    theirs = await offer(other, service, ProviderServiceStatus.PENDING)
    staff = await cast.staff_actor()
    slug = cast.marketplace.slug
    async with (
        serving() as port,
        subscribed(port, cast.provider.id, slug, SERVICES) as provider,
        subscribed(port, other_user.id, slug, SERVICES) as stranger,
        subscribed(port, cast.staff.id, slug, SERVICES) as desk,
        subscribed(
            port, cast.staff.id, slug, EVERYTHING, topics=["provider_service.updated"]
        ) as board,
    ):
        await catalog.decide_provider_service(
            staff, applied.id, to=ProviderServiceStatus.REJECTED, reason="No insurance yet."
        )
        await catalog.decide_provider_service(staff, theirs.id, to=ProviderServiceStatus.ACCEPTED)
        mine = (await provider.next())["payload"]["data"]["providerServiceUpdated"]
        assert mine["providerService"]["status"] == "REJECTED"
        assert mine["providerService"]["reason"] == "No insurance yet."
        other_seen = (await stranger.next())["payload"]["data"]["providerServiceUpdated"]
        assert other_seen["providerService"]["status"] == "ACCEPTED"
        statuses = [
            (await desk.next())["payload"]["data"]["providerServiceUpdated"]["providerService"][
                "status"
            ]
            for _ in "ab"
        ]
        assert statuses == ["REJECTED", "ACCEPTED"]
        topics = [(await board.next())["payload"]["data"]["marketplaceEvents"] for _ in "ab"]
        assert {t["topic"] for t in topics} == {"provider_service.updated"}
        await provider.nothing()
        await stranger.nothing()


async def test_a_client_may_not_follow_providers_services():
    cast = await make_cast()
    async with (
        serving() as port,
        subscribed(port, cast.client_user.id, cast.marketplace.slug, SERVICES) as client,
    ):
        answer = await client.next()
        assert answer["type"] in ("error", "next")
        errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
        assert errors[0]["extensions"]["code"] in ("FORBIDDEN", "NOT_AUTHORIZED")
