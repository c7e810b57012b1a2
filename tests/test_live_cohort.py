"""Live cohorts over real websockets: subscriptions with the same document, variables and actor
share one execution per event and receive the same bytes; everything a lone subscriber is
promised still holds for each member (its own actor's payload, access checked per event,
resume with ``after``, SUBSCRIBER_TOO_SLOW for a member that stops reading, alone)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import orjson

from models.membership import Membership, MembershipStatus
from presta.settings import settings
from presta.tx import atomic
from resolvers import account
from resolvers.events import record_event
from resolvers.messaging import core as messaging
from schema.http import cohort
from schema.http.cohort import CUT_OFF
from schema.http.live import decode_event_cursor, encode_event_cursor
from tests.factories.account import actor_of, make_user
from tests.factories.messaging import make_cast, make_conversation
from tests.support.graphql import serving
from tests.support.live import logged_ids, rename
from tests.support.polling import wait_for
from tests.support.websocket import Socket

VIEWER = (
    "subscription($after: String) { viewerUpdated(after: $after) { cursor user { fullName } } }"
)
RECEIVED = "subscription { messageReceived { cursor message { text sentByViewer } } }"


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[int]:
    async with serving() as port:
        yield port


async def _members(count: int) -> None:
    await wait_for(lambda: cohort.stats()["members"] == count)


async def test_sockets_of_one_user_and_document_share_one_cohort_and_get_the_same_frames_in_order():
    user = await make_user()
    actor = await actor_of(user)
    async with server() as port:
        sockets = [(await Socket.open(port, user, VIEWER)).read() for _ in range(3)]
        await _members(3)
        assert cohort.stats() == {"cohorts": 1, "members": 3}

        # One rename at a time: an event's payload reads the user as it is when delivered, so
        # a rename committed before the previous one's delivery would show in its frame.
        for n in range(5):
            await account.update_profile(actor, full_name=f"Name {n}")
            await wait_for(lambda n=n: all(len(s.frames) == n + 1 for s in sockets))

        logged = await logged_ids(user.id)
        for s in sockets:
            assert s.cursors() == logged
            assert s.frames == sockets[0].frames  # the same bytes, id included
        assert [n["user"]["fullName"] for n in sockets[0].nexts("viewerUpdated")] == [
            f"Name {n}" for n in range(5)
        ]
        for s in sockets:
            await s.close()
        await wait_for(lambda: cohort.stats() == {"cohorts": 0, "members": 0})


async def test_two_actors_of_one_document_each_get_their_own_payload():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    staff = await cast.staff_actor()
    async with server() as port:
        staff_socket = (
            await Socket.open(
                port, cast.staff, RECEIVED, init={"marketplace": cast.marketplace.slug}
            )
        ).read()
        provider_socket = (
            await Socket.open(
                port, cast.provider, RECEIVED, init={"marketplace": cast.marketplace.slug}
            )
        ).read()
        await _members(2)
        assert cohort.stats()["cohorts"] == 2

        await messaging.send_message(staff, conversation_id=conversation.id, text="hello")

        await wait_for(lambda: staff_socket.frames and provider_socket.frames)
        assert staff_socket.nexts("messageReceived")[0]["message"] == {
            "text": "hello",
            "sentByViewer": True,
        }
        assert provider_socket.nexts("messageReceived")[0]["message"] == {
            "text": "hello",
            "sentByViewer": False,
        }
        await staff_socket.close()
        await provider_socket.close()


async def test_members_whose_access_ends_between_two_events_stop_receiving():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    staff = await cast.staff_actor()
    init = {"marketplace": cast.marketplace.slug}
    async with server() as port:
        providers = [
            (await Socket.open(port, cast.provider, RECEIVED, init=init)).read() for _ in range(2)
        ]
        staff_socket = (await Socket.open(port, cast.staff, RECEIVED, init=init)).read()
        await _members(3)

        await messaging.send_message(staff, conversation_id=conversation.id, text="before")
        await wait_for(lambda: all(len(s.frames) == 1 for s in [*providers, staff_socket]))
        await Membership.filter(id=cast.membership.id).update(status=MembershipStatus.DELETED)
        await messaging.send_message(staff, conversation_id=conversation.id, text="after")

        await wait_for(lambda: len(staff_socket.frames) == 2)
        await asyncio.sleep(0.3)
        for s in providers:
            assert [n["message"]["text"] for n in s.nexts("messageReceived")] == ["before"]
            await s.close()
        await staff_socket.close()


async def test_a_member_resuming_with_its_cursor_gets_exactly_what_it_missed():
    user = await make_user()
    actor = await actor_of(user)
    async with server() as port:
        stays = (await Socket.open(port, user, VIEWER)).read()
        leaves = (await Socket.open(port, user, VIEWER)).read()
        await _members(2)
        await rename(actor, 3, "First")
        await wait_for(lambda: len(leaves.frames) == 3)
        await leaves.close()
        await rename(actor, 3, "Missed")

        last = leaves.cursors()[-1]
        back = (await Socket.open(port, user, VIEWER, {"after": encode_event_cursor(last)})).read()
        await wait_for(lambda: len(back.frames) == 3)
        await rename(actor, 1, "Live")

        logged = await logged_ids(user.id)
        await wait_for(lambda: len(stays.frames) == 7 and len(back.frames) == 4)
        assert stays.cursors() == logged
        assert leaves.cursors() + back.cursors() == logged
        await stays.close()
        await back.close()


async def test_a_member_that_stops_reading_is_cut_off_alone_and_the_others_get_everything(
    monkeypatch,
):
    monkeypatch.setattr(settings(), "live_queue_size", 16)
    monkeypatch.setattr(settings(), "live_stall_seconds", 0.2)
    user = await make_user(full_name="x" * 190)
    # ~3 KiB per event, so that the slow client's socket buffers fill up.
    copies = " ".join(f"u{n}: user {{ fullName }}" for n in range(14))
    query = f"subscription {{ viewerUpdated {{ cursor {copies} }} }}"
    async with server() as port:
        fast = (await Socket.open(port, user, query)).read()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        slow = await Socket.open(port, user, query, sock=sock, max_queue=1)
        await _members(2)
        cut_off = CUT_OFF._value.get()

        produced = 0
        while CUT_OFF._value.get() == cut_off:
            assert produced < 20_000, "the slow member was never cut off"
            async with atomic() as tx:
                for _ in range(100):
                    await record_event(
                        tx, topic=account.USER_UPDATED, marketplace_id=None,
                        object_type="User", object_id=user.id, audience=[f"user:{user.id}"],
                    )  # fmt: skip
            produced += 100
            await asyncio.sleep(0.05)

        logged = await logged_ids(user.id)
        await wait_for(lambda: len(fast.frames) == len(logged), within=30)
        assert fast.cursors() == logged

        slow.read()
        await wait_for(
            lambda: slow.frames and orjson.loads(slow.frames[-1])["type"] == "complete", within=20
        )
        *delivered, cut, done = slow.messages()
        assert cut["payload"]["errors"][0]["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW"
        assert done == {"id": "1", "type": "complete"}
        received = [
            decode_event_cursor(m["payload"]["data"]["viewerUpdated"]["cursor"]) for m in delivered
        ]
        assert 0 < len(received) < len(logged)
        assert received == logged[: len(received)]  # in order, nothing skipped before the cut
        await fast.close()
        await slow.close()
