"""Messaging: conversations between a marketplace's staff, its providers and their clients.

Who may read and write a conversation: the marketplace's staff (partner keys read only), the
provider of its membership, and its client. Anyone else is told it does not exist.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import timezone
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from models.account import User
from models.dispatch import Dispatch, ServiceRequest
from models.document import Document
from models.intervention import Intervention
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus
from models.messaging import (
    Conversation,
    ConversationKind,
    Message,
    MessageAttachment,
    ParticipantRole,
)
from presta import db
from presta.i18n import _
from presta.settings import settings
from presta.tx import AfterCommit, atomic
from resolvers.actor import Actor
from resolvers.compiled.rules import Flag, Same, Via, all_of, any_of, where
from resolvers.errors import UserError, forbidden, not_found, unauthenticated
from resolvers.events import record_event, staff_audience

MESSAGE_CREATED = "message.created"


class MessagingErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    DIRECT_MESSAGES_DISABLED = "DIRECT_MESSAGES_DISABLED"
    EMPTY_MESSAGE = "EMPTY_MESSAGE"
    MESSAGE_TOO_LONG = "MESSAGE_TOO_LONG"
    TOO_MANY_ATTACHMENTS = "TOO_MANY_ATTACHMENTS"


# Written once for the use cases and loaders (``where``) and the compiled path
# (``condition``): the conversations of the acting marketplace the actor takes part in (all,
# for staff and partners); a message, through its conversation.
SEES_CONVERSATION = all_of(
    Same("marketplace_id", "marketplace_id"),
    any_of(
        Flag("sees_whole_marketplace"),
        Same("membership_id", "membership_id"),
        Same("client_id", "client_id"),
    ),
)
SEES_MESSAGE = Via("conversation_id", Conversation, "id", SEES_CONVERSATION)


def visible_conversations(actor: Actor) -> QuerySet[Conversation]:
    """Conversations of the acting marketplace the actor takes part in (all, for staff)."""
    actor.require_marketplace()
    return where(Conversation.all(), SEES_CONVERSATION, actor)


async def get_conversation(
    actor: Actor, conversation_id: int, *, field: str = "conversationId"
) -> Conversation:
    conversation = await visible_conversations(actor).get_or_none(id=conversation_id)
    if conversation is None:
        raise not_found(_("Conversation"), field=field)
    return conversation


def audience(conversation: Conversation) -> list[str]:
    keys = [
        staff_audience(conversation.marketplace_id),
        f"membership:{conversation.membership_id}",
    ]
    if conversation.client_id is not None:
        keys.append(f"client:{conversation.client_id}")
    return keys


def _require_person(actor: Actor) -> int:
    """Messages come from people: partner keys read conversations but never write."""
    if not actor.is_authenticated:
        raise unauthenticated()
    if actor.user_id is None:
        raise forbidden(_("API keys may read conversations, not write in them."))
    return actor.user_id


def _role_in(actor: Actor, conversation: Conversation) -> ParticipantRole:
    if actor.is_staff:
        return ParticipantRole.STAFF
    if actor.membership_id == conversation.membership_id:
        return ParticipantRole.PROVIDER
    return ParticipantRole.CLIENT


async def _direct_messages_allowed(marketplace_id: int) -> bool:
    return await Marketplace.filter(id=marketplace_id, direct_messages_allowed=True).exists()


def _disabled() -> UserError:
    return UserError(
        MessagingErrorCode.DIRECT_MESSAGES_DISABLED,
        _("This marketplace does not allow direct messages between providers and clients."),
    )


async def start_conversation(
    actor: Actor,
    *,
    kind: ConversationKind,
    membership_id: int | None = None,
    request_id: int | None = None,
    intervention_id: int | None = None,
    text: str | None = None,
) -> Conversation:
    """Open (or find) the one conversation of its subject; staff-provider needs no setting."""
    _require_person(actor)
    marketplace_id = actor.require_marketplace()
    if kind is ConversationKind.STAFF_PROVIDER:
        membership = await _staff_provider_subject(actor, membership_id)
        client_id: int | None = None
        key = f"staff-provider:{membership.id}"
    else:
        if not await _direct_messages_allowed(marketplace_id):
            raise _disabled()
        membership, client_id, key = await _provider_client_subject(
            actor, membership_id=membership_id, request_id=request_id,
            intervention_id=intervention_id,
        )  # fmt: skip
    if text is not None:
        _check_text(text, attachments=0)
    async with atomic() as tx:
        # Locking the membership serializes concurrent starts of the same subject.
        await Membership.filter(id=membership.id).select_for_update().first()
        conversation = await Conversation.get_or_none(subject_key=key)
        if conversation is None:
            conversation = await Conversation.create(
                marketplace_id=marketplace_id,
                kind=kind,
                membership_id=membership.id,
                client_id=client_id,
                request_id=request_id,
                intervention_id=intervention_id,
                subject_key=key,
            )
        if text is not None:
            await _post(tx, actor, conversation, text=text, documents=[])
    return conversation


async def _staff_provider_subject(actor: Actor, membership_id: int | None) -> Membership:
    if actor.is_staff:
        wanted = membership_id
    elif actor.membership_id is not None and membership_id in (None, actor.membership_id):
        wanted = actor.membership_id
    else:
        wanted = None
    membership = (
        await Membership.filter(id=wanted, marketplace_id=actor.marketplace_id)
        .exclude(status=MembershipStatus.DELETED)
        .first()
        if wanted is not None
        else None
    )
    if membership is None:
        raise not_found(_("Membership"), field="membershipId")
    return membership


async def _provider_client_subject(
    actor: Actor,
    *,
    membership_id: int | None,
    request_id: int | None,
    intervention_id: int | None,
) -> tuple[Membership, int, str]:
    if (request_id is None) == (intervention_id is None):
        raise UserError(
            MessagingErrorCode.INVALID,
            _("A provider-client conversation is about one request or one intervention."),
            field="requestId",
        )
    if intervention_id is not None:
        intervention = await Intervention.get_or_none(
            id=intervention_id, marketplace_id=actor.marketplace_id
        )
        if intervention is None:
            raise not_found(_("Intervention"), field="interventionId")
        membership_id = intervention.membership_id
        client_id: int = intervention.client_id
        if not _party_of(actor, membership_id, client_id):
            raise not_found(_("Intervention"), field="interventionId")
        key = f"provider-client:intervention:{intervention_id}"
    else:
        request = await ServiceRequest.get_or_none(
            id=request_id, marketplace_id=actor.marketplace_id
        )
        if actor.is_provider and not actor.is_staff:
            membership_id = actor.membership_id
        # A provider and a client talk about a request once it was sent to that provider.
        sent = (
            request is not None
            and membership_id is not None
            and _party_of(actor, membership_id, request.client_id)
            and await Dispatch.filter(request_id=request.id, membership_id=membership_id).exists()
        )
        if not sent or request is None:
            raise not_found(_("Service request"), field="requestId")
        client_id = request.client_id
        key = f"provider-client:request:{request_id}:{membership_id}"
    membership = await Membership.get(id=membership_id)
    return membership, client_id, key


def _party_of(actor: Actor, membership_id: int, client_id: int) -> bool:
    return actor.is_staff or actor.membership_id == membership_id or actor.client_id == client_id


def _check_text(text: str, *, attachments: int) -> None:
    limit = settings().message_max_chars
    if len(text) > limit:
        raise UserError(
            MessagingErrorCode.MESSAGE_TOO_LONG,
            _("A message is at most {limit} characters.", limit=limit),
            field="text",
        )
    if not text.strip() and not attachments:
        raise UserError(
            MessagingErrorCode.EMPTY_MESSAGE,
            _("A message needs text or an attachment."),
            field="text",
        )


async def send_message(
    actor: Actor, *, conversation_id: int, text: str, attachment_ids: list[int] | None = None
) -> Message:
    """Participants and staff write; the sender may attach their own visible documents."""
    _require_person(actor)
    attachment_ids = list(dict.fromkeys(attachment_ids or []))
    if len(attachment_ids) > settings().message_max_attachments:
        raise UserError(
            MessagingErrorCode.TOO_MANY_ATTACHMENTS,
            _(
                "At most {most} attachments per message.",
                most=settings().message_max_attachments,
            ),
            field="attachmentIds",
        )
    _check_text(text, attachments=len(attachment_ids))
    async with atomic() as tx:
        # The row lock orders the messages of one conversation by commit as well as by id.
        conversation = (
            await visible_conversations(actor)
            .filter(id=conversation_id)
            .select_for_update()
            .first()
        )
        if conversation is None:
            raise not_found(_("Conversation"), field="conversationId")
        documents = await _attachable(actor, attachment_ids)
        return await _post(tx, actor, conversation, text=text, documents=documents)


async def _attachable(actor: Actor, ids: list[int]) -> list[Document]:
    """The sender's own documents, still stored, of this marketplace or of their company."""
    if not ids:
        return []
    scope = Q(marketplace_id=actor.marketplace_id)
    if actor.company_id is not None:
        scope |= Q(company_id=actor.company_id)
    found = await Document.filter(scope, id__in=ids, uploaded_by_id=actor.user_id, deleted_at=None)
    if len(found) != len(ids):
        raise not_found(_("Document"), field="attachmentIds")
    by_id = {d.id: d for d in found}
    return [by_id[i] for i in ids]


async def _post(
    tx: AfterCommit,
    actor: Actor,
    conversation: Conversation,
    *,
    text: str,
    documents: list[Document],
) -> Message:
    role = _role_in(actor, conversation)
    if (
        conversation.kind is ConversationKind.PROVIDER_CLIENT
        and role is not ParticipantRole.STAFF
        and not await _direct_messages_allowed(conversation.marketplace_id)
    ):
        raise _disabled()
    sender = await User.get(id=actor.user_id)
    message = await Message.create(
        conversation=conversation,
        sender=sender,
        sender_role=role,
        sender_name=sender.full_name,
        text=text,
    )
    if documents:
        await MessageAttachment.bulk_create(
            [MessageAttachment(message=message, document=d) for d in documents]
        )
    conversation.last_message_id = message.id
    conversation.last_message_at = message.created_at
    await conversation.save(update_fields=["last_message_id", "last_message_at"])
    await _advance_read(conversation.id, sender.id, role, message.id)
    await record_event(
        tx,
        topic=MESSAGE_CREATED,
        marketplace_id=conversation.marketplace_id,
        object_type="Message",
        object_id=message.id,
        audience=audience(conversation),
        payload={"conversation_id": conversation.id},
    )
    return message


async def _advance_read(
    conversation_id: int, user_id: int, role: ParticipantRole, message_id: int
) -> None:
    """Create the reader's row or move its read position, in one statement; it never moves
    back: a late "read up to 5" after "read up to 9" keeps 9."""
    await db.rows(
        "INSERT INTO conversation_participant (conversation_id, user_id, role,"
        " last_read_message_id, notified_message_id, joined_at)"
        " VALUES (:conversation_id, :user_id, :role, :message_id, 0, :joined_at)"
        " ON CONFLICT (conversation_id, user_id) DO UPDATE"
        " SET last_read_message_id = EXCLUDED.last_read_message_id"
        " WHERE conversation_participant.last_read_message_id < EXCLUDED.last_read_message_id",
        conversation_id=conversation_id,
        user_id=user_id,
        role=role.value,
        message_id=message_id,
        joined_at=timezone.now(),
    )


async def mark_conversation_read(
    actor: Actor, *, conversation_id: int, up_to_message_id: int | None = None
) -> Conversation:
    """The viewer has read the conversation up to a message (its latest by default)."""
    user_id = _require_person(actor)
    conversation = await get_conversation(actor, conversation_id)
    latest = conversation.last_message_id or 0
    if up_to_message_id is not None:
        if not await Message.filter(id=up_to_message_id, conversation_id=conversation.id).exists():
            raise not_found(_("Message"), field="upToMessageId")
        latest = min(latest, up_to_message_id)
    if latest:
        await _advance_read(conversation.id, user_id, _role_in(actor, conversation), latest)
    return conversation


async def messaging_settings(actor: Actor) -> Marketplace:
    """Anyone acting in the marketplace may know whether direct messages are allowed."""
    marketplace_id = actor.require_marketplace()
    return await Marketplace.get(id=marketplace_id)


async def update_messaging_settings(actor: Actor, *, direct_messages_allowed: bool) -> Marketplace:
    """ADMIN staff allow or forbid direct provider-client messages (staff may always write)."""
    marketplace_id = actor.require_staff(admin=True)
    async with atomic():
        marketplace = await Marketplace.get(id=marketplace_id)
        marketplace.direct_messages_allowed = direct_messages_allowed
        await marketplace.save(update_fields=["direct_messages_allowed"])
    return marketplace
