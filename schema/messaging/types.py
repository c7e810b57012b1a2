"""Messaging: conversations, messages, read positions and the live `messageReceived` feed."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.dataloader import DataLoader

from models.document import Document as DocumentModel
from models.marketplace import Marketplace as MarketplaceModel
from models.messaging import Conversation as ConversationModel
from models.messaging import ConversationKind, ParticipantRole
from models.messaging import Message as MessageModel
from resolvers.actor import Actor
from resolvers.errors import UserError
from resolvers.messaging import core as use_cases
from resolvers.messaging import inbox
from schema.base import (
    After,
    Before,
    Connection,
    First,
    Last,
    UserErrorBase,
    connection,
    decode_id,
    encode_id,
)
from schema.context import Info
from schema.http.live import decode_event_cursor, encode_event_cursor, follow
from schema.loaders import MembershipByIdLoader, caches, loader, prime_fields
from schema.membership.types import Membership
from schema.node import AuthorizedNode

if TYPE_CHECKING:
    from schema.document import Document

strawberry.enum(use_cases.MessagingErrorCode, description="Why a messaging operation failed.")
strawberry.enum(
    ConversationKind,
    description="STAFF_PROVIDER: the marketplace's staff and one provider (one per "
    "membership). PROVIDER_CLIENT: a provider and a client about a request or intervention.",
)
strawberry.enum(ParticipantRole, description="On whose side a message's sender writes.")


@strawberry.type(description="A failure of a messaging operation.")
class MessagingError(UserErrorBase):
    code: use_cases.MessagingErrorCode = strawberry.field(description="Machine-readable reason.")


def _loader(info: Info, key: str, load: Callable[[list[int]], Awaitable[list[Any]]]) -> Any:
    # Not cached in a subscription: it lasts for all its events (counts change meanwhile).
    return info.context.loader(key, lambda: DataLoader(load_fn=load, cache=caches(info)))


def _unread_counts(info: Info) -> DataLoader[int, int]:
    actor = info.context.actor

    async def load(ids: list[int]) -> list[int]:
        counts = await inbox.unread_counts(actor, ids)
        return [counts.get(i, 0) for i in ids]

    return _loader(info, "conversation.unread", load)  # type: ignore[no-any-return]


def _messages(info: Info) -> DataLoader[int, MessageModel | None]:
    actor = info.context.actor

    async def load(ids: list[int]) -> list[Any]:
        found = await inbox.messages_by_id(actor, ids)
        return [found.get(i) for i in ids]

    return _loader(info, "message.by_id", load)  # type: ignore[no-any-return]


@strawberry.type(description="A stored document attached to a message.")
class MessageAttachment:
    document_id: relay.GlobalID = strawberry.field(description="The document (`node(id:)`).")
    filename: str = strawberry.field(description="File name as uploaded.")
    content_type: str = strawberry.field(description="Type detected from the file's bytes.")
    size: int = strawberry.field(description="Size in bytes.")
    model: strawberry.Private[DocumentModel]

    @strawberry.field(
        description="The document, with a download link for the viewer (every reader of the "
        "conversation may open it)."
    )
    def document(self) -> Annotated[Document, strawberry.lazy("schema.document")]:
        from schema.document import Document

        return Document.from_model(self.model)


@strawberry.type(description="A message of a conversation.")
class Message(AuthorizedNode):
    id: relay.NodeID[int]
    conversation_id: relay.GlobalID = strawberry.field(description="Its conversation.")
    text: str = strawberry.field(description="The text, possibly empty when files are attached.")
    sender_role: ParticipantRole = strawberry.field(description="Side the sender writes for.")
    sender_name: str = strawberry.field(description="Sender's name when the message was sent.")
    sent_by_viewer: bool = strawberry.field(description="The viewer wrote it.")
    created_at: datetime = strawberry.field(description="When it was sent.")

    @strawberry.field(description="Documents attached to the message.")
    async def attachments(self, info: Info) -> list[MessageAttachment]:
        actor = info.context.actor

        async def load(ids: list[int]) -> list[list[Any]]:
            found = await inbox.attachments_of(actor, ids)
            return [found.get(i, []) for i in ids]

        documents = await _loader(info, "message.attachments", load).load(self.id)
        return [
            MessageAttachment(
                document_id=encode_id("Document", d.id),
                filename=d.filename,
                content_type=d.content_type,
                size=d.size,
                model=d,
            )
            for d in documents
        ]

    @classmethod
    def from_model(cls, m: MessageModel, actor: Actor) -> Message:
        return cls(
            id=m.id,
            conversation_id=encode_id("Conversation", m.conversation_id),
            text=m.text,
            sender_role=m.sender_role,
            sender_name=m.sender_name,
            sent_by_viewer=actor.user_id is not None and m.sender_id == actor.user_id,
            created_at=m.created_at,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        messages = await inbox.visible_messages_by_id(actor, ids)
        return {m.id: cls.from_model(m, actor) for m in messages}


@strawberry.type(description="A conversation: with staff, or between a provider and a client.")
class Conversation(AuthorizedNode):
    id: relay.NodeID[int]
    kind: ConversationKind = strawberry.field(description="Who talks, and about what.")
    client_name: str | None = strawberry.field(description="The client, for PROVIDER_CLIENT.")
    request_id: relay.GlobalID | None = strawberry.field(description="The request it is about.")
    intervention_id: relay.GlobalID | None = strawberry.field(
        description="The intervention it is about."
    )
    created_at: datetime = strawberry.field(description="When it was started.")
    last_message_at: datetime | None = strawberry.field(description="When it was last written.")
    last_message_id: strawberry.Private[int | None]
    membership_id: strawberry.Private[int]

    @strawberry.field(description="The provider's file it belongs to.")
    async def membership(self, info: Info) -> Membership:
        # Loaded with the others of the page, only when asked for.
        found = await loader(info, MembershipByIdLoader).load(self.membership_id)
        return Membership.from_model(found)

    @staticmethod
    async def prime(info: Info, conversations: list[Conversation]) -> None:
        """Load what the fields asked of these conversations read, one statement per
        relation, before graphql-core resolves them: each then finds its rows loaded."""
        await prime_fields(info, conversations, {
            "unreadCount": lambda rows, _: _unread_counts(info).load_many([c.id for c in rows]),
            "lastMessage": lambda rows, _: _messages(info).load_many(
                [c.last_message_id for c in rows if c.last_message_id is not None]),
        })  # fmt: skip

    @strawberry.field(description="Messages from others the viewer has not read (0 for API keys).")
    async def unread_count(self, info: Info) -> int:
        return await _unread_counts(info).load(self.id)

    @strawberry.field(description="The latest message, if any.")
    async def last_message(self, info: Info) -> Message | None:
        if self.last_message_id is None:
            return None
        found = await _messages(info).load(self.last_message_id)
        return Message.from_model(found, info.context.actor) if found is not None else None

    @strawberry.field(description="Messages, newest first, by cursor (no offset pagination).")
    async def messages(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Message]:
        actor = info.context.actor
        page = await inbox.list_messages(
            actor, conversation_id=self.id, first=first, after=after, last=last, before=before
        )
        return connection(page, lambda m: Message.from_model(m, actor))

    @classmethod
    def from_model(cls, c: ConversationModel) -> Conversation:
        return cls(
            id=c.id,
            kind=c.kind,
            membership_id=c.membership_id,
            client_name=c.client.full_name if c.client is not None else None,
            request_id=_gid("ServiceRequest", c.request_id),
            intervention_id=_gid("Intervention", c.intervention_id),
            created_at=c.created_at,
            last_message_at=c.last_message_at,
            last_message_id=c.last_message_id,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        found = await inbox.visible_conversations_by_id(actor, ids)
        return {c.id: cls.from_model(c) for c in found}


def _gid(type_name: str, pk: int | None) -> relay.GlobalID | None:
    return encode_id(type_name, pk) if pk is not None else None


async def conversation_by_id(actor: Actor, conversation_id: int) -> Conversation:
    found = await inbox.visible_conversations_by_id(actor, [conversation_id])
    return Conversation.from_model(found[0])


@strawberry.type(description="Messaging settings of the acting marketplace.")
class MessagingSettings:
    direct_messages_allowed: bool = strawberry.field(
        description="Providers and clients may write to each other (staff always may)."
    )

    @classmethod
    def from_model(cls, m: MarketplaceModel) -> MessagingSettings:
        return cls(direct_messages_allowed=m.direct_messages_allowed)


def opt_id(value: relay.GlobalID | None, type_name: str, field: str) -> int | None:
    return decode_id(value, type_name, field=field) if value is not None else None


async def conversations_of(
    info: Info,
    *,
    kind: ConversationKind | None = None,
    membership_id: int | None = None,
    client_id: int | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Conversation]:
    page = await inbox.list_conversations(
        info.context.actor,
        kind=kind,
        membership_id=membership_id,
        client_id=client_id,
        first=first,
        after=after,
        last=last,
        before=before,
    )
    result = connection(page, Conversation.from_model)
    await Conversation.prime(info, [e.node for e in result.edges])
    return result


@strawberry.type
class MessagingQuery:
    @strawberry.field(
        description="The viewer's conversations in the acting marketplace, newest first "
        "(staff: all of them), with unread counts and last messages."
    )
    async def conversations(
        self,
        info: Info,
        kind: Annotated[
            ConversationKind | None, strawberry.argument(description="Only this kind.")
        ] = None,
        membership_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="Only those of this provider's file."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Conversation]:
        return await conversations_of(
            info,
            kind=kind,
            membership_id=opt_id(membership_id, "Membership", "membershipId"),
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="Messaging settings of the acting marketplace.")
    async def messaging_settings(self, info: Info) -> MessagingSettings:
        return MessagingSettings.from_model(await use_cases.messaging_settings(info.context.actor))


@strawberry.type(description="A new message in one of the viewer's conversations.")
class MessageReceivedEvent:
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    message: Message = strawberry.field(description="The message.")


@strawberry.type
class MessagingSubscription:
    @strawberry.subscription(
        description="Every new message of the viewer's conversations (or of one), live; "
        "`after` replays what was missed. Access is re-checked for every message."
    )
    async def message_received(
        self,
        info: Info,
        conversation_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this conversation.")
        ] = None,
        after: After = None,
    ) -> AsyncGenerator[MessageReceivedEvent, None]:
        actor = info.context.actor
        actor.require_marketplace()
        only: int | None = None
        if conversation_id is not None:
            try:
                only = decode_id(conversation_id, "Conversation", field="conversationId")
                await use_cases.get_conversation(actor, only)
            except UserError:
                raise GraphQLError(
                    "Conversation not found.", extensions={"code": "NOT_FOUND"}
                ) from None

        async def load(viewer: Actor, envelope: dict[str, Any]) -> Message | None:
            message = await inbox.load_message_event(
                viewer, envelope["object_id"], conversation_id=only
            )
            return Message.from_model(message, viewer) if message is not None else None

        async for event_id, message in follow(
            actor,
            topics=[use_cases.MESSAGE_CREATED],
            after=decode_event_cursor(after),
            load=load,
            share=("messageReceived", only),
        ):
            yield MessageReceivedEvent(cursor=encode_event_cursor(event_id), message=message)
