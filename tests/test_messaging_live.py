from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from models.membership import Membership, MembershipStatus
from resolvers.actor import Actor
from resolvers.messaging import core as messaging
from schema.context import Context
from schema.root import schema
from tests.factories.account import actor_of
from tests.factories.messaging import (
    make_cast,
    make_conversation,
    make_intervention,
    other_provider_of,
)

RECEIVED = """
subscription($conversationId: ID, $after: String) {
  messageReceived(conversationId: $conversationId, after: $after) {
    cursor
    message { text senderRole sentByViewer conversationId }
  }
}"""
FROM_THE_START = base64.urlsafe_b64encode(b"e:0").decode()


class Feed:
    """A running subscription collecting what it receives."""

    def __init__(self, results: AsyncIterator[Any]) -> None:
        self.results = results
        self.items: list[dict[str, Any]] = []
        self.errors: list[Any] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for result in self.results:
            if result.errors:
                self.errors.extend(result.errors)
                return
            self.items.append(result.data["messageReceived"])

    def texts(self) -> list[str]:
        return [item["message"]["text"] for item in self.items]

    async def until(self, text: str, within: float = 5.0) -> list[str]:
        """Wait for a message with this text; return every text received so far."""
        deadline = asyncio.get_running_loop().time() + within
        while text not in self.texts():
            if self.task.done() or asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{text!r} not received; got {self.texts()} {self.errors}")
            await asyncio.sleep(0.02)
        return self.texts()

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def subscribe(actor: Actor, **variables: Any) -> Feed:
    context = Context(request=None, response=None, actor=actor, request_id="test")  # type: ignore[arg-type]
    results = await schema.subscribe(RECEIVED, variable_values=variables, context_value=context)
    return Feed(results)


@contextlib.asynccontextmanager
async def feeds(*pairs: tuple[Actor, dict[str, Any]]) -> AsyncIterator[list[Feed]]:
    running = [await subscribe(actor, **variables) for actor, variables in pairs]
    # Live subscribers attach to the broadcast when first scheduled.
    await asyncio.sleep(0.2)
    try:
        yield running
    finally:
        for feed in running:
            await feed.close()


async def say(actor: Actor, conversation_id: int, text: str) -> None:
    await messaging.send_message(actor, conversation_id=conversation_id, text=text)


async def test_each_participant_and_the_staff_receive_new_messages_live_and_nobody_else():
    cast = await make_cast()
    staff_thread = await make_conversation(cast.membership)
    intervention = await make_intervention(cast.membership, cast.client)
    client_thread = await make_conversation(
        cast.membership, client=cast.client, intervention=intervention
    )
    other_membership, other_user = await other_provider_of(cast.marketplace)
    other_thread = await make_conversation(other_membership)
    staff, provider, client = (
        await cast.staff_actor(),
        await cast.provider_actor(),
        await cast.client_actor(),
    )
    other = await actor_of(other_user, cast.marketplace)
    foreign = await (await make_cast()).staff_actor()

    async with feeds((staff, {}), (provider, {}), (client, {}), (other, {}), (foreign, {})) as (
        staff_feed, provider_feed, client_feed, other_feed, foreign_feed,
    ):  # fmt: skip
        await say(staff, staff_thread.id, "to the provider")
        await say(client, client_thread.id, "to the provider, from the client")
        await say(other, other_thread.id, "from the other provider")
        # A last message per feed marks the end: nothing else arrived before it.
        assert await staff_feed.until("from the other provider") == [
            "to the provider",
            "to the provider, from the client",
            "from the other provider",
        ]
        assert await provider_feed.until("to the provider, from the client") == [
            "to the provider",
            "to the provider, from the client",
        ]
        assert await client_feed.until("to the provider, from the client") == [
            "to the provider, from the client"
        ]
        assert await other_feed.until("from the other provider") == ["from the other provider"]
        await asyncio.sleep(0.2)
        assert foreign_feed.items == []
        assert provider_feed.items[0]["message"]["senderRole"] == "STAFF"
        assert staff_feed.items[0]["message"]["sentByViewer"] is True


async def test_a_subscriber_resuming_from_its_cursor_gets_exactly_what_it_missed():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    staff, provider = await cast.staff_actor(), await cast.provider_actor()
    async with feeds((provider, {})) as (feed,):
        await say(staff, conversation.id, "one")
        await feed.until("one")
        cursor = feed.items[-1]["cursor"]
    for text in ("two", "three"):
        await say(staff, conversation.id, text)
    async with feeds((provider, {"after": cursor})) as (resumed,):
        await say(staff, conversation.id, "four")
        assert await resumed.until("four") == ["two", "three", "four"]


async def test_one_conversation_only_and_a_foreign_conversation_is_not_found():
    cast = await make_cast()
    first = await make_conversation(cast.membership)
    intervention = await make_intervention(cast.membership, cast.client)
    second = await make_conversation(cast.membership, client=cast.client, intervention=intervention)
    staff = await cast.staff_actor()
    from strawberry import relay

    only_first = {"conversationId": str(relay.GlobalID("Conversation", str(first.id)))}
    async with feeds((staff, {**only_first, "after": FROM_THE_START})) as (feed,):
        await say(staff, second.id, "elsewhere")
        await say(staff, first.id, "here")
        assert await feed.until("here") == ["here"]

    outsider = await (await make_cast()).provider_actor()
    context = Context(request=None, response=None, actor=outsider, request_id="t")  # type: ignore[arg-type]
    results = await schema.subscribe(RECEIVED, variable_values=only_first, context_value=context)
    first_result = await anext(results)
    assert first_result.data is None
    assert first_result.errors is not None
    assert first_result.errors[0].extensions == {"code": "NOT_FOUND"}


async def test_replay_from_the_log_applies_the_same_access_rules():
    cast = await make_cast()
    staff_thread = await make_conversation(cast.membership)
    intervention = await make_intervention(cast.membership, cast.client)
    client_thread = await make_conversation(
        cast.membership, client=cast.client, intervention=intervention
    )
    staff = await cast.staff_actor()
    await say(staff, staff_thread.id, "staff only")
    await say(staff, client_thread.id, "for the client")
    client = await cast.client_actor()
    foreign = await (await make_cast()).staff_actor()
    async with feeds((client, {"after": FROM_THE_START}), (foreign, {"after": FROM_THE_START})) as (
        client_feed,
        foreign_feed,
    ):
        assert await client_feed.until("for the client") == ["for the client"]
        await asyncio.sleep(0.2)
        assert foreign_feed.items == []


async def test_a_provider_whose_relationship_is_deleted_stops_receiving_within_a_second():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    staff, provider = await cast.staff_actor(), await cast.provider_actor()
    async with feeds((provider, {}), (staff, {})) as (provider_feed, staff_feed):
        await say(staff, conversation.id, "before")
        await provider_feed.until("before")
        await Membership.filter(id=cast.membership.id).update(status=MembershipStatus.DELETED)
        await say(staff, conversation.id, "after")
        await staff_feed.until("after", within=1.0)
        await asyncio.sleep(0.3)
        assert provider_feed.texts() == ["before"]


async def test_concurrent_senders_deliver_every_message_once_in_order_and_the_last_one_wins():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    staff, provider = await cast.staff_actor(), await cast.provider_actor()
    async with feeds((provider, {}), (staff, {})) as (provider_feed, staff_feed):
        await asyncio.gather(
            *(say(staff if i % 2 else provider, conversation.id, f"m{i}") for i in range(20))
        )
        await say(staff, conversation.id, "end")
        from models.messaging import Conversation, Message

        in_id_order = [
            m.text for m in await Message.filter(conversation_id=conversation.id).order_by("id")
        ]
        assert sorted(in_id_order[:-1], key=lambda t: int(t[1:])) == [f"m{i}" for i in range(20)]
        for feed in (provider_feed, staff_feed):
            assert await feed.until("end") == in_id_order
            assert len({item["cursor"] for item in feed.items}) == 21

    newest = await Message.filter(conversation_id=conversation.id).order_by("-id").first()
    refreshed = await Conversation.get(id=conversation.id)
    assert newest is not None
    assert refreshed.last_message_id == newest.id
    assert newest.text == "end"
