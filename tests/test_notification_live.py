"""notificationReceived over a real websocket: each person sees their own notifications,
whatever their e-mail preferences, and resumes from a cursor."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import websockets
from websockets.typing import Subprotocol

from models.catalog import ProviderServiceStatus
from models.events import Event
from models.notification import NotificationKind, NotificationPreference
from presta import events, jobs
from presta.security import make_access_token
from resolvers import catalog
from schema.http.live import encode_event_cursor
from tests.factories.catalog import make_service, offer
from tests.factories.messaging import make_cast, other_provider_of
from tests.support.graphql import serving

WS_PROTOCOL = Subprotocol("graphql-transport-ws")
RECEIVED = """subscription($after: String) {
  notificationReceived(after: $after) {
    cursor notification { kind title body subjectId emailed }
  }
}"""


@contextlib.asynccontextmanager
async def received(
    port: int, user_id: int, slug: str, after: str | None = None
) -> AsyncIterator[Any]:
    before = events.stats()["subscribers"]
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/graphql", subprotocols=[WS_PROTOCOL], open_timeout=5
    ) as ws:
        token, _ = make_access_token(user_id)
        init = {"authorization": f"Bearer {token}", "marketplace": slug}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await asyncio.wait_for(ws.recv(), timeout=5))["type"] == "connection_ack"
        payload = {"query": RECEIVED, "variables": {"after": after}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        for _ in range(100):
            if events.stats()["subscribers"] > before:
                break
            await asyncio.sleep(0.02)
        yield ws


async def _next(ws: Any, within: float = 5.0) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=within))
    assert message["type"] == "next", message
    return dict(message["payload"]["data"]["notificationReceived"])


async def _nothing(ws: Any, within: float = 0.7) -> None:
    with contextlib.suppress(TimeoutError):
        message = await asyncio.wait_for(ws.recv(), timeout=within)
        raise AssertionError(f"unexpected {message}")


async def test_a_provider_is_told_live_of_its_services_even_with_e_mails_off(mailbox):
    cast = await make_cast()
    _other, other_user = await other_provider_of(cast.marketplace)
    await NotificationPreference.create(
        user_id=cast.provider.id, kind=NotificationKind.SERVICE_ACCEPTED, email=False
    )
    service = await make_service(cast.marketplace)
    row = await offer(cast.membership, service, ProviderServiceStatus.PENDING)
    slug = cast.marketplace.slug
    async with (
        serving() as port,
        received(port, cast.provider.id, slug) as provider,
        received(port, other_user.id, slug) as stranger,
    ):
        await catalog.decide_provider_service(
            await cast.staff_actor(), row.id, to=ProviderServiceStatus.ACCEPTED
        )
        await jobs.drain()
        told = await _next(provider)
        assert told["notification"]["kind"] == "SERVICE_ACCEPTED"
        assert told["notification"]["title"] == f"Service accepté : {service.name}"
        assert told["notification"]["emailed"] is False
        await _nothing(stranger)
    assert mailbox.to(cast.provider.email) == []

    # Reconnecting from before it replays it, once.
    async with (
        serving() as port,
        received(port, cast.provider.id, slug, after=None) as fresh,
    ):
        await _nothing(fresh)
    async with (
        serving() as port,
        received(port, cast.provider.id, slug, after=encode_event_cursor(0)) as again,
    ):
        replayed = await _next(again)
        assert replayed == told
        await _nothing(again)


async def test_a_persons_notifications_are_never_offered_to_partner_webhooks(mailbox):
    cast = await make_cast()
    service = await make_service(cast.marketplace)
    row = await offer(cast.membership, service, ProviderServiceStatus.PENDING)
    await catalog.decide_provider_service(
        await cast.staff_actor(), row.id, to=ProviderServiceStatus.ACCEPTED
    )
    await jobs.drain()
    told = await Event.filter(topic="notification.created")
    assert len(told) == 1
    assert told[0].marketplace_id is None  # webhooks fan out a marketplace's events only
