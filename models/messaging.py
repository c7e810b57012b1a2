"""Conversations between a marketplace's staff, its providers and their clients."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import Client, User
    from models.dispatch import ServiceRequest
    from models.document import Document
    from models.intervention import Intervention
    from models.marketplace import Marketplace
    from models.membership import Membership


class ConversationKind(StrEnum):
    STAFF_PROVIDER = "STAFF_PROVIDER"  # staff and one provider: one per membership
    PROVIDER_CLIENT = "PROVIDER_CLIENT"  # a provider and a client, about a request or intervention


class ParticipantRole(StrEnum):
    STAFF = "STAFF"
    PROVIDER = "PROVIDER"
    CLIENT = "CLIENT"


class Conversation(Model):
    """A thread of messages. Staff of its marketplace may always read it."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="conversations", on_delete=fields.CASCADE
    )
    marketplace_id: int
    kind = fields.CharEnumField(ConversationKind, max_length=16)
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="conversations", on_delete=fields.CASCADE
    )
    membership_id: int
    client: fields.ForeignKeyNullableRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="conversations", null=True, on_delete=fields.CASCADE
    )
    client_id: int | None
    request: fields.ForeignKeyNullableRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest",
        related_name="conversations",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    request_id: int | None
    intervention: fields.ForeignKeyNullableRelation[Intervention] = fields.ForeignKeyField(
        "models.Intervention",
        related_name="conversations",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    intervention_id: int | None
    # Unique per subject (one staff-provider thread per membership, one thread per request or
    # intervention and client): starting an existing conversation returns it.
    subject_key = fields.CharField(max_length=128, unique=True)
    # Denormalized in the sending transaction so a page of conversations gets its last
    # messages in one query.
    last_message_id = fields.BigIntField(null=True)
    last_message_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "conversation"
        indexes = (("marketplace_id", "id"), ("membership_id", "id"), ("client_id", "id"))


class Participant(Model):
    """A user's read position in a conversation, created when they first write or read."""

    id = fields.BigIntField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="participants", on_delete=fields.CASCADE
    )
    conversation_id: int
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User",
        related_name="conversation_participations",
        on_delete=fields.CASCADE,
        db_index=True,
    )
    user_id: int
    role = fields.CharEnumField(ParticipantRole, max_length=16)
    last_read_message_id = fields.BigIntField(default=0)
    # The last message an unread-messages digest covered: the next digest starts after it.
    notified_message_id = fields.BigIntField(default=0)
    joined_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "conversation_participant"
        unique_together = (("conversation", "user"),)


class Message(Model):
    """One message. Its id orders the conversation and is the keyset cursor."""

    id = fields.BigIntField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="messages", on_delete=fields.CASCADE
    )
    conversation_id: int
    sender: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="messages_sent", null=True, on_delete=fields.SET_NULL
    )
    sender_id: int | None
    sender_role = fields.CharEnumField(ParticipantRole, max_length=16)
    sender_name = fields.CharField(max_length=200, default="")
    text = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "message"
        indexes = (("conversation_id", "id"),)


class MessageAttachment(Model):
    """A stored document attached to a message."""

    id = fields.BigIntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="attachments", on_delete=fields.CASCADE
    )
    message_id: int
    document: fields.ForeignKeyRelation[Document] = fields.ForeignKeyField(
        "models.Document",
        related_name="message_attachments",
        on_delete=fields.RESTRICT,
        db_index=True,
    )
    document_id: int

    class Meta:
        table = "message_attachment"
        unique_together = (("message", "document"),)
