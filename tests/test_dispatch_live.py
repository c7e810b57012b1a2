"""Live requests: providers get dispatches at once; every viewer follows the requests it sees."""

from __future__ import annotations

import asyncio

from models.dispatch import DispatchStatus
from models.membership import MembershipStatus
from resolvers.dispatch.proposal import Answer, respond_to_service_request
from tests.factories.dispatch import make_world
from tests.support.live import open_feed

DISPATCHED = """
subscription { serviceRequestDispatched {
  cursor serviceRequest { id postalCode } dispatch { status round } } }"""
UPDATED = """
subscription { serviceRequestUpdated { cursor serviceRequest { id status } } }"""


async def test_every_matched_provider_receives_the_new_request_live_and_nobody_else():
    world = await make_world(providers=2)
    far = await world.add_provider(postal_code="69001")
    other = await make_world(providers=1)
    feeds = [
        await open_feed(DISPATCHED, "serviceRequestDispatched", p.actor)
        for p in [*world.providers[:2], far, other.providers[0]]
    ]
    try:
        await world.request()
        for feed in feeds[:2]:
            [item] = await feed.wait(1)
            assert item["dispatch"] == {"status": "PENDING", "round": 1}
            assert item["serviceRequest"]["postalCode"] == "75011"
            assert item["cursor"]
        await other.request()
        await asyncio.sleep(0.3)
        assert feeds[2].items == []
        [own] = feeds[3].items  # its own marketplace's request only
        assert own["serviceRequest"]["id"] != feeds[0].items[0]["serviceRequest"]["id"]
    finally:
        for feed in feeds:
            await feed.close()


async def test_a_provider_suspended_mid_stream_stops_receiving_updates():
    world = await make_world(providers=2, proposals_required=3)
    request_id = await world.request()
    watcher, talker = world.providers
    watching = await open_feed(UPDATED, "serviceRequestUpdated", watcher.actor)
    staff = await open_feed(UPDATED, "serviceRequestUpdated", world.staff)
    try:
        await respond_to_service_request(
            talker.actor, request_id=request_id, answer=Answer(DispatchStatus.INTERESTED)
        )
        await watching.wait(1)
        await staff.wait(1)

        watcher.membership.status = MembershipStatus.SUSPENDED
        await watcher.membership.save()
        await respond_to_service_request(
            talker.actor, request_id=request_id, answer=Answer(DispatchStatus.DECLINED)
        )
        await staff.wait(2)
        await asyncio.sleep(0.3)
        assert len(watching.items) == 1
    finally:
        await watching.close()
        await staff.close()


async def test_a_client_follows_its_request_until_the_proposal():
    world = await make_world(providers=1, proposals_required=1)
    feed = await open_feed(UPDATED, "serviceRequestUpdated", world.client)
    try:
        request_id = await world.request()
        await feed.wait(1)
        await respond_to_service_request(
            world.providers[0].actor,
            request_id=request_id,
            answer=Answer(DispatchStatus.INTERESTED),
        )
        items = await feed.wait(2)
        assert [i["serviceRequest"]["status"] for i in items] == ["OPEN", "PROPOSAL_SENT"]
    finally:
        await feed.close()
