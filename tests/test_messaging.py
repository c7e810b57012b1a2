from __future__ import annotations

import logging
from typing import Any

from strawberry import relay

from models.account import StaffRole
from models.events import Event
from models.messaging import Message
from presta import clock
from resolvers.actor import Actor
from tests.factories.account import actor_of, make_staff
from tests.factories.messaging import (
    fill_messages,
    make_attachment,
    make_cast,
    make_conversation,
    make_dispatched_request,
    make_intervention,
)
from tests.support.graphql import execute, ok

START = """
mutation($input: StartConversationInput!) {
  startConversation(input: $input) {
    userErrors { field code message }
    conversation { id kind unreadCount clientName membership { id }
                   lastMessage { text senderRole sentByViewer } }
  }
}"""
SEND = """
mutation($input: SendMessageInput!) {
  sendMessage(input: $input) {
    userErrors { field code message }
    message { id text senderRole senderName sentByViewer conversationId
              attachments { documentId filename contentType size } }
  }
}"""
READ = """
mutation($input: MarkConversationReadInput!) {
  markConversationRead(input: $input) {
    userErrors { field code message }
    conversation { id unreadCount }
  }
}"""
LIST = """
query($first: Int, $after: String) {
  conversations(first: $first, after: $after) {
    edges { cursor node { id kind unreadCount lastMessage { id text } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
MESSAGES = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  node(id: $id) {
    ... on Conversation {
      messages(first: $first, after: $after, last: $last, before: $before) {
        nodes { text }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  }
}"""
NODE = "query($id: ID!) { node(id: $id) { id } }"


def gid(type_name: str, pk: int) -> str:
    return str(relay.GlobalID(type_name, str(pk)))


async def send(actor: Actor, conversation_id: str, text: str, **extra: Any) -> Any:
    data = await ok(
        SEND, {"input": {"conversationId": conversation_id, "text": text, **extra}}, actor=actor
    )
    return data["sendMessage"]


async def unread(actor) -> dict[str, int]:
    data = await ok(LIST, {"first": 50}, actor=actor)
    return {e["node"]["id"]: e["node"]["unreadCount"] for e in data["conversations"]["edges"]}


async def test_staff_and_a_provider_share_one_conversation_per_membership():
    cast = await make_cast()
    staff, provider = await cast.staff_actor(), await cast.provider_actor()
    first = await ok(
        START,
        {
            "input": {
                "kind": "STAFF_PROVIDER",
                "membershipId": gid("Membership", cast.membership.id),
                "text": "Welcome aboard!",
            }
        },
        actor=staff,
    )
    conversation = first["startConversation"]["conversation"]
    assert first["startConversation"]["userErrors"] == []
    assert conversation["lastMessage"] == {
        "text": "Welcome aboard!",
        "senderRole": "STAFF",
        "sentByViewer": True,
    }
    # The provider "starting" it again lands in the same thread, which it has not read yet.
    again = await ok(START, {"input": {"kind": "STAFF_PROVIDER"}}, actor=provider)
    same = again["startConversation"]["conversation"]
    assert same["id"] == conversation["id"]
    assert same["unreadCount"] == 1
    assert same["lastMessage"]["sentByViewer"] is False

    reply = await send(provider, conversation["id"], "Thanks!")
    assert reply["userErrors"] == []
    assert reply["message"]["senderRole"] == "PROVIDER"
    assert await unread(staff) == {conversation["id"]: 1}
    # Writing in a conversation reads it up to one's own message.
    assert await unread(provider) == {conversation["id"]: 0}


async def test_unread_counts_follow_each_viewers_read_position():
    cast = await make_cast()
    staff, provider = await cast.staff_actor(), await cast.provider_actor()
    conversation = await make_conversation(cast.membership)
    cid = gid("Conversation", conversation.id)
    sent = [(await send(staff, cid, f"news {i}"))["message"]["id"] for i in range(3)]
    assert await unread(provider) == {cid: 3}
    assert await unread(staff) == {cid: 0}

    partial = await ok(
        READ, {"input": {"conversationId": cid, "upToMessageId": sent[0]}}, actor=provider
    )
    assert partial["markConversationRead"]["conversation"]["unreadCount"] == 2
    whole = await ok(READ, {"input": {"conversationId": cid}}, actor=provider)
    assert whole["markConversationRead"]["conversation"]["unreadCount"] == 0
    # Reading an older message later never moves the position back.
    await ok(READ, {"input": {"conversationId": cid, "upToMessageId": sent[0]}}, actor=provider)
    assert await unread(provider) == {cid: 0}

    await send(staff, cid, "one more")
    assert await unread(provider) == {cid: 1}
    # Another staff member has their own position: everything from others is unread for them.
    colleague = await actor_of(await make_staff(cast.marketplace), cast.marketplace)
    assert await unread(colleague) == {cid: 4}


async def test_listing_conversations_costs_the_same_queries_for_two_or_twenty(caplog):
    cast = await make_cast()
    staff = await cast.staff_actor()

    async def queries_for_listing() -> int:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tortoise"):
            await ok(LIST, {"first": 50}, actor=staff)
        return sum(1 for r in caplog.records if "SELECT" in r.getMessage().upper())

    async def add_conversations(count: int) -> None:
        for _ in range(count):
            from tests.factories.membership import make_membership

            conversation = await make_conversation(await make_membership(cast.marketplace))
            await fill_messages(conversation, cast.provider, 2)

    await add_conversations(2)
    few = await queries_for_listing()
    await add_conversations(18)
    many = await queries_for_listing()
    data = await ok(LIST, {"first": 50}, actor=staff)
    assert len(data["conversations"]["edges"]) == 20
    assert all(e["node"]["unreadCount"] == 2 for e in data["conversations"]["edges"])
    assert all(
        e["node"]["lastMessage"]["text"] == "message 1" for e in data["conversations"]["edges"]
    )
    assert few > 0
    assert many == few


async def test_messages_page_newest_first_by_cursor_and_new_messages_do_not_shift_pages():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    await fill_messages(conversation, cast.staff, 25)
    provider = await cast.provider_actor()
    cid = gid("Conversation", conversation.id)

    page1 = (await ok(MESSAGES, {"id": cid, "first": 10}, actor=provider))["node"]["messages"]
    assert [n["text"] for n in page1["nodes"]] == [f"message {i}" for i in range(24, 14, -1)]
    assert page1["pageInfo"]["hasNextPage"] is True
    # A message arriving between two pages does not duplicate or skip anything.
    await send(await cast.staff_actor(), cid, "brand new")
    page2 = (
        await ok(
            MESSAGES,
            {"id": cid, "first": 10, "after": page1["pageInfo"]["endCursor"]},
            actor=provider,
        )
    )["node"]["messages"]
    assert [n["text"] for n in page2["nodes"]] == [f"message {i}" for i in range(14, 4, -1)]
    page3 = (
        await ok(
            MESSAGES,
            {"id": cid, "first": 10, "after": page2["pageInfo"]["endCursor"]},
            actor=provider,
        )
    )["node"]["messages"]
    assert [n["text"] for n in page3["nodes"]] == [f"message {i}" for i in range(4, -1, -1)]
    assert page3["pageInfo"]["hasNextPage"] is False
    # Walking back from a cursor gives the newer neighbours, still newest first.
    back = (
        await ok(
            MESSAGES,
            {"id": cid, "last": 3, "before": page2["pageInfo"]["startCursor"]},
            actor=provider,
        )
    )["node"]["messages"]
    assert [n["text"] for n in back["nodes"]] == ["message 17", "message 16", "message 15"]


async def test_text_over_the_limit_or_empty_is_refused_and_nothing_is_stored():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    cid = gid("Conversation", conversation.id)
    staff = await cast.staff_actor()
    too_long = await send(staff, cid, "x" * 5001)
    assert [(e["field"], e["code"]) for e in too_long["userErrors"]] == [
        ("text", "MESSAGE_TOO_LONG")
    ]
    empty = await send(staff, cid, "   ")
    assert [(e["field"], e["code"]) for e in empty["userErrors"]] == [("text", "EMPTY_MESSAGE")]
    at_limit = await send(staff, cid, "x" * 5000)
    assert at_limit["userErrors"] == []
    assert await Message.filter(conversation_id=conversation.id).count() == 1


async def test_only_the_senders_own_stored_documents_can_be_attached():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    cid = gid("Conversation", conversation.id)
    provider = await cast.provider_actor()
    mine = await make_attachment(cast.provider, cast.marketplace, filename="leak.png")
    someone_elses = await make_attachment(cast.staff, cast.marketplace)
    deleted = await make_attachment(cast.provider, cast.marketplace, deleted_at=clock.now())

    sent = await send(provider, cid, "", attachmentIds=[gid("Document", mine.id)])
    assert sent["userErrors"] == []
    assert sent["message"]["attachments"] == [
        {
            "documentId": gid("Document", mine.id),
            "filename": "leak.png",
            "contentType": "image/png",
            "size": 1234,
        }
    ]
    for document in (someone_elses, deleted):
        refused = await send(
            provider, cid, "see file", attachmentIds=[gid("Document", document.id)]
        )
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
            ("attachmentIds", "NOT_FOUND")
        ]
    assert await Message.filter(conversation_id=conversation.id).count() == 1


async def test_a_client_and_a_provider_talk_about_an_intervention_while_the_marketplace_allows_it():
    cast = await make_cast()
    intervention = await make_intervention(cast.membership, cast.client)
    client, provider, staff = (
        await cast.client_actor(),
        await cast.provider_actor(),
        await cast.staff_actor(),
    )
    started = await ok(
        START,
        {
            "input": {
                "kind": "PROVIDER_CLIENT",
                "interventionId": gid("Intervention", intervention.id),
                "text": "Can you come at 9?",
            }
        },
        actor=client,
    )
    conversation = started["startConversation"]["conversation"]
    assert conversation["clientName"] == cast.client.full_name
    assert (await send(provider, conversation["id"], "Sure."))["userErrors"] == []

    settings_off = """mutation { updateMessagingSettings(input: {directMessagesAllowed: false}) {
        userErrors { code } messagingSettings { directMessagesAllowed } } }"""
    agent = await actor_of(
        await make_staff(cast.marketplace, role=StaffRole.AGENT), cast.marketplace
    )
    assert (await execute(settings_off, actor=agent)).codes == ["FORBIDDEN"]
    turned = await ok(settings_off, actor=staff)
    assert turned["updateMessagingSettings"]["messagingSettings"] == {
        "directMessagesAllowed": False
    }

    for actor in (client, provider):
        refused = await send(actor, conversation["id"], "still there?")
        assert [e["code"] for e in refused["userErrors"]] == ["DIRECT_MESSAGES_DISABLED"]
    assert (await send(staff, conversation["id"], "Staff may always write."))["userErrors"] == []
    other = await make_intervention(cast.membership, cast.client)
    blocked = await ok(
        START,
        {"input": {"kind": "PROVIDER_CLIENT", "interventionId": gid("Intervention", other.id)}},
        actor=client,
    )
    assert [e["code"] for e in blocked["startConversation"]["userErrors"]] == [
        "DIRECT_MESSAGES_DISABLED"
    ]
    # The staff-provider thread is not a direct message: it stays open.
    staff_thread = await ok(START, {"input": {"kind": "STAFF_PROVIDER"}}, actor=provider)
    assert staff_thread["startConversation"]["userErrors"] == []


async def test_a_client_may_only_write_about_a_request_to_a_provider_it_was_sent_to():
    cast = await make_cast()
    request = await make_dispatched_request(cast.membership, cast.client)
    client = await cast.client_actor()
    from tests.factories.membership import make_membership

    not_sent_to = await make_membership(cast.marketplace)

    def start_input(membership_id: int) -> dict[str, Any]:
        return {
            "input": {
                "kind": "PROVIDER_CLIENT",
                "requestId": gid("ServiceRequest", request.id),
                "membershipId": gid("Membership", membership_id),
            }
        }

    good = await ok(START, start_input(cast.membership.id), actor=client)
    assert good["startConversation"]["userErrors"] == []
    bad = await ok(START, start_input(not_sent_to.id), actor=client)
    assert [(e["field"], e["code"]) for e in bad["startConversation"]["userErrors"]] == [
        ("requestId", "NOT_FOUND")
    ]
    # The provider it was sent to reaches the same conversation without naming itself.
    provider = await cast.provider_actor()
    same = await ok(
        START,
        {"input": {"kind": "PROVIDER_CLIENT", "requestId": gid("ServiceRequest", request.id)}},
        actor=provider,
    )
    assert (
        same["startConversation"]["conversation"]["id"]
        == good["startConversation"]["conversation"]["id"]
    )


async def test_nobody_outside_a_conversation_can_tell_it_exists():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    cid = gid("Conversation", conversation.id)
    staff = await cast.staff_actor()
    message_id = (await send(staff, cid, "private"))["message"]["id"]

    from tests.factories.messaging import other_provider_of

    _, other_provider = await other_provider_of(cast.marketplace)
    outsider_cast = await make_cast()  # another marketplace with its own staff and provider
    outsiders = [
        await actor_of(other_provider, cast.marketplace),
        await cast.client_actor(),  # a client never sees a staff-provider thread
        await outsider_cast.staff_actor(),
        await outsider_cast.provider_actor(),
    ]
    for outsider in outsiders:
        assert (await ok(NODE, {"id": cid}, actor=outsider))["node"] is None
        assert (await ok(NODE, {"id": message_id}, actor=outsider))["node"] is None
        assert await unread(outsider) == {}
        refused = await send(outsider, cid, "hello?")
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
            ("conversationId", "NOT_FOUND")
        ]
        read = await ok(READ, {"input": {"conversationId": cid}}, actor=outsider)
        assert read["markConversationRead"]["userErrors"][0]["code"] == "NOT_FOUND"
        started = await ok(
            START,
            {
                "input": {
                    "kind": "STAFF_PROVIDER",
                    "membershipId": gid("Membership", cast.membership.id),
                }
            },
            actor=outsider,
        )
        assert started["startConversation"]["userErrors"][0]["code"] == "NOT_FOUND"
    # Staff of the other marketplace naming this one act nowhere: refused, nothing shown.
    foreign = await actor_of(outsider_cast.staff, cast.marketplace)
    assert (await execute(LIST, {"first": 5}, actor=foreign)).data is None
    assert await Message.filter(conversation_id=conversation.id).count() == 1


async def test_a_provider_does_not_see_the_conversations_of_another_provider():
    cast = await make_cast()
    from tests.factories.messaging import other_provider_of

    other_membership, other_user = await other_provider_of(cast.marketplace)
    mine = await make_conversation(cast.membership)
    theirs = await make_conversation(other_membership)
    intervention = await make_intervention(other_membership, cast.client)
    with_client = await make_conversation(
        other_membership, client=cast.client, intervention=intervention
    )
    provider_view = await unread(await cast.provider_actor())
    assert set(provider_view) == {gid("Conversation", mine.id)}
    other_view = await unread(await actor_of(other_user, cast.marketplace))
    assert set(other_view) == {gid("Conversation", theirs.id), gid("Conversation", with_client.id)}
    client_view = await unread(await cast.client_actor())
    assert set(client_view) == {gid("Conversation", with_client.id)}
    staff_view = await unread(await cast.staff_actor())
    assert len(staff_view) == 3


async def test_each_message_is_recorded_as_an_event_for_the_conversations_participants():
    cast = await make_cast()
    intervention = await make_intervention(cast.membership, cast.client)
    conversation = await make_conversation(
        cast.membership, client=cast.client, intervention=intervention
    )
    sent = await send(await cast.client_actor(), gid("Conversation", conversation.id), "Hi")
    event = await Event.get(topic="message.created")
    assert gid("Message", event.object_id) == sent["message"]["id"]
    assert event.marketplace_id == cast.marketplace.id
    assert sorted(event.audience) == sorted(
        [
            f"staff:{cast.marketplace.id}",
            f"membership:{cast.membership.id}",
            f"client:{cast.client.id}",
        ]
    )


async def test_the_providers_file_shows_its_messaging_and_gdpr_tabs():
    from models.consent import ConsentChannel
    from resolvers import consent

    cast = await make_cast()
    mine = await make_conversation(cast.membership)
    from tests.factories.messaging import other_provider_of

    other_membership, _ = await other_provider_of(cast.marketplace)
    await make_conversation(other_membership)
    await consent.set_marketing_consent(
        await cast.provider_actor(),
        membership_id=cast.membership.id,
        channel=ConsentChannel.EMAIL,
        granted=True,
        wording_version="v3",
        source="app",
    )
    query = """query($id: ID!) { node(id: $id) { ... on Membership {
        conversations(first: 10) { nodes { id } }
        consent { channel granted wordingVersion } } } }"""
    for viewer in (await cast.staff_actor(), await cast.provider_actor()):
        file = (await ok(query, {"id": gid("Membership", cast.membership.id)}, actor=viewer))[
            "node"
        ]
        assert file["conversations"]["nodes"] == [{"id": gid("Conversation", mine.id)}]
        assert file["consent"] == [{"channel": "EMAIL", "granted": True, "wordingVersion": "v3"}]


async def test_files_attached_in_a_conversation_open_to_its_readers_only():
    cast = await make_cast()
    intervention = await make_intervention(cast.membership, cast.client)
    conversation = await make_conversation(
        cast.membership, client=cast.client, intervention=intervention
    )
    photo = await make_attachment(cast.provider, cast.marketplace, filename="quote.png")
    document_id = gid("Document", photo.id)
    client = await cast.client_actor()
    assert (await ok(NODE, {"id": document_id}, actor=client))["node"] is None

    await send(
        await cast.provider_actor(),
        gid("Conversation", conversation.id),
        "",
        attachmentIds=[document_id],
    )
    query = """query($id: ID!) { node(id: $id) { ... on Conversation {
        messages(first: 1) { nodes { attachments {
          document { id filename downloadUrl } } } } } } }"""
    data = await ok(query, {"id": gid("Conversation", conversation.id)}, actor=client)
    [attachment] = data["node"]["messages"]["nodes"][0]["attachments"]
    assert attachment["document"]["filename"] == "quote.png"
    assert attachment["document"]["downloadUrl"]
    assert (await ok(NODE, {"id": document_id}, actor=client))["node"] == {"id": document_id}
    from tests.factories.messaging import other_provider_of

    _, other_user = await other_provider_of(cast.marketplace)
    other = await actor_of(other_user, cast.marketplace)
    assert (await ok(NODE, {"id": document_id}, actor=other))["node"] is None


async def test_partner_keys_read_conversations_but_never_write():
    from models.account import ApiScope
    from resolvers.actor import Actor, RoleGrant

    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    await send(await cast.staff_actor(), gid("Conversation", conversation.id), "hello")
    key = Actor(
        marketplace_id=cast.marketplace.id,
        api_key_id=1,
        api_scope=ApiScope.READ_WRITE,
        roles=(RoleGrant(cast.marketplace.id, "PARTNER"),),
    )
    listed = await ok(LIST, {"first": 5}, actor=key)
    assert [e["node"]["lastMessage"]["text"] for e in listed["conversations"]["edges"]] == ["hello"]
    assert listed["conversations"]["edges"][0]["node"]["unreadCount"] == 0
    refused = await execute(
        SEND,
        {"input": {"conversationId": gid("Conversation", conversation.id), "text": "bot"}},
        actor=key,
    )
    assert refused.codes == ["FORBIDDEN"]
    assert await Message.filter(conversation_id=conversation.id).count() == 1
