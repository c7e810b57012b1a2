"""Messaging mutations: start a conversation, send, mark read, and the marketplace setting."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay

from models.messaging import ConversationKind
from resolvers.actor import Actor
from resolvers.messaging import core as use_cases
from schema.base import Mutations, decode_id
from schema.context import Info
from schema.messaging.types import (
    Conversation,
    Message,
    MessagingError,
    MessagingSettings,
    conversation_by_id,
    opt_id,
)


@strawberry.input(description="Open a conversation, or find the one that exists for its subject.")
class StartConversationInput:
    kind: ConversationKind = strawberry.field(description="Who talks, and about what.")
    membership_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The provider's membership: required for staff; for a client, the "
        "provider a request was sent to; a provider user may omit it (its own).",
    )
    request_id: relay.GlobalID | None = strawberry.field(
        default=None, description="PROVIDER_CLIENT: the request it is about."
    )
    intervention_id: relay.GlobalID | None = strawberry.field(
        default=None, description="PROVIDER_CLIENT: the intervention it is about."
    )
    text: str | None = strawberry.field(
        default=None, description="A first message to send at once (optional)."
    )


@strawberry.type(description="Result of startConversation.")
class StartConversationPayload:
    user_errors: list[MessagingError] = strawberry.field(description="Expected failures.")
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation (new or existing)."
    )


@strawberry.input(description="A new message in a conversation.")
class SendMessageInput:
    conversation_id: relay.GlobalID = strawberry.field(description="The conversation.")
    text: str = strawberry.field(
        default="", description="The text, at most 5,000 characters (may be empty with files)."
    )
    attachment_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list,
        description="Documents to attach (at most 10): uploaded by the sender, still stored.",
    )


@strawberry.type(description="Result of sendMessage.")
class SendMessagePayload:
    user_errors: list[MessagingError] = strawberry.field(description="Expected failures.")
    message: Message | None = strawberry.field(default=None, description="The message sent.")


@strawberry.input(description="Mark a conversation read by the viewer.")
class MarkConversationReadInput:
    conversation_id: relay.GlobalID = strawberry.field(description="The conversation.")
    up_to_message_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Read up to this message; its latest message by default."
    )


@strawberry.type(description="Result of markConversationRead.")
class MarkConversationReadPayload:
    user_errors: list[MessagingError] = strawberry.field(description="Expected failures.")
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation, with its new unread count."
    )


@strawberry.input(description="Change the acting marketplace's messaging settings.")
class UpdateMessagingSettingsInput:
    direct_messages_allowed: bool = strawberry.field(
        description="Allow direct messages between providers and clients."
    )


@strawberry.type(description="Result of updateMessagingSettings.")
class UpdateMessagingSettingsPayload:
    user_errors: list[MessagingError] = strawberry.field(description="Expected failures.")
    messaging_settings: MessagingSettings | None = strawberry.field(
        default=None, description="The settings now in force."
    )


async def _start(actor: Actor, data: StartConversationInput) -> dict[str, Any]:
    conversation = await use_cases.start_conversation(
        actor,
        kind=data.kind,
        membership_id=opt_id(data.membership_id, "Membership", "membershipId"),
        request_id=opt_id(data.request_id, "ServiceRequest", "requestId"),
        intervention_id=opt_id(data.intervention_id, "Intervention", "interventionId"),
        text=data.text,
    )
    return {"conversation": await conversation_by_id(actor, conversation.id)}


async def _send(actor: Actor, data: SendMessageInput) -> dict[str, Any]:
    message = await use_cases.send_message(
        actor,
        conversation_id=decode_id(data.conversation_id, "Conversation", field="conversationId"),
        text=data.text,
        attachment_ids=[
            decode_id(d, "Document", field="attachmentIds") for d in data.attachment_ids
        ],
    )
    return {"message": Message.from_model(message, actor)}


async def _mark_read(actor: Actor, data: MarkConversationReadInput) -> dict[str, Any]:
    conversation = await use_cases.mark_conversation_read(
        actor,
        conversation_id=decode_id(data.conversation_id, "Conversation", field="conversationId"),
        up_to_message_id=opt_id(data.up_to_message_id, "Message", "upToMessageId"),
    )
    return {"conversation": await conversation_by_id(actor, conversation.id)}


async def _update_settings(actor: Actor, data: UpdateMessagingSettingsInput) -> dict[str, Any]:
    marketplace = await use_cases.update_messaging_settings(
        actor, direct_messages_allowed=data.direct_messages_allowed
    )
    return {"messaging_settings": MessagingSettings.from_model(marketplace)}


_run = Mutations(MessagingError, use_cases.MessagingErrorCode)


@strawberry.type
class MessagingMutation:
    @strawberry.mutation(
        description="Open a conversation (staff-provider: one per membership; provider-client: "
        "one per request or intervention, when the marketplace allows direct messages)."
    )
    async def start_conversation(
        self, info: Info, input: StartConversationInput
    ) -> StartConversationPayload:
        return await _run(StartConversationPayload, _start(info.context.actor, input))

    @strawberry.mutation(description="Send a message; every participant receives it live.")
    async def send_message(self, info: Info, input: SendMessageInput) -> SendMessagePayload:
        return await _run(SendMessagePayload, _send(info.context.actor, input))

    @strawberry.mutation(description="Mark a conversation read by the viewer.")
    async def mark_conversation_read(
        self, info: Info, input: MarkConversationReadInput
    ) -> MarkConversationReadPayload:
        return await _run(MarkConversationReadPayload, _mark_read(info.context.actor, input))

    @strawberry.mutation(description="ADMIN: allow or forbid direct provider-client messages.")
    async def update_messaging_settings(
        self, info: Info, input: UpdateMessagingSettingsInput
    ) -> UpdateMessagingSettingsPayload:
        return await _run(
            UpdateMessagingSettingsPayload, _update_settings(info.context.actor, input)
        )
