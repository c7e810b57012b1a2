"""Reading conversations: lists, messages, unread counts and last messages in batches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from models.account import ApiKey, Client, StaffMember
from models.document import Document
from models.membership import Membership, MembershipStatus
from models.messaging import Conversation, ConversationKind, Message, MessageAttachment
from presta import db
from presta.db import padded
from presta.settings import settings
from presta.statements import where_in
from resolvers import compiled
from resolvers import document as documents
from resolvers.actor import Actor
from resolvers.compiled.rules import Rule, Via, condition, visible_row, where
from resolvers.messaging.core import (
    SEES_CONVERSATION,
    SEES_MESSAGE,
    get_conversation,
    visible_conversations,
)
from resolvers.pagination import Page, Paging, decode_cursor, keyset_page


async def list_conversations(
    actor: Actor,
    *,
    kind: ConversationKind | None = None,
    membership_id: int | None = None,
    client_id: int | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Conversation]:
    """The viewer's conversations, newest first (staff: the marketplace's, or one provider's)."""
    page = Paging(first=first, after=after, last=last, before=before)
    whole = actor.sees_tab_of(membership_id)
    # Who reads a provider's tab whole sees all its conversations: the filter says it all.
    marketplace_id = actor.require_marketplace()
    query = (
        Conversation.filter(marketplace_id=marketplace_id)
        if whole
        else visible_conversations(actor)
    )
    if kind is not None:
        query = query.filter(kind=kind)
    if membership_id is not None:
        query = query.filter(membership_id=membership_id)
    if client_id is not None:
        query = query.filter(client_id=client_id)
    query = query.select_related("client")
    if whole and kind is None and client_id is None:
        # The whole Messaging tab: every provider app asks for it on opening, so its SQL is
        # built once (presta.statements).
        tab = [marketplace_id, membership_id]
        return await keyset_page(query, **page, shape="conversations tab", params=tab)
    return await keyset_page(query, **page)


async def visible_conversations_by_id(actor: Actor, ids: list[int]) -> list[Conversation]:
    """The conversations of ``ids`` the actor may see (``SEES_CONVERSATION``), for a batch."""
    if not ids or actor.marketplace_id is None:
        return []
    query = where(Conversation.filter(id__in=ids), SEES_CONVERSATION, actor)
    return list(await query.select_related("client"))


async def visible_messages_by_id(actor: Actor, ids: list[int]) -> list[Message]:
    """The messages of ``ids`` the actor may see (``SEES_MESSAGE``), for a batch."""
    if not ids or actor.marketplace_id is None:
        return []
    return list(await where(Message.filter(id__in=ids), SEES_MESSAGE, actor))


async def list_messages(
    actor: Actor,
    *,
    conversation_id: int,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Message]:
    """Messages of a conversation the viewer may read, newest first, by keyset (no offset)."""
    conversation = await get_conversation(actor, conversation_id, field="id")
    return await keyset_page(
        Message.filter(conversation_id=conversation.id),
        first=first,
        after=after,
        last=last,
        before=before,
    )


# The ids as one array: one prepared statement for every viewer and page size.
_UNREAD = """
SELECT m.conversation_id AS conversation_id, COUNT(*) AS unread
FROM message m
LEFT JOIN conversation_participant p
  ON p.conversation_id = m.conversation_id AND p.user_id = :viewer
WHERE m.conversation_id = ANY(CAST(:ids AS bigint[]))
  AND m.id > COALESCE(p.last_read_message_id, 0)
  AND (m.sender_id IS NULL OR m.sender_id <> :viewer)
GROUP BY m.conversation_id
"""


async def unread_counts(actor: Actor, conversation_ids: list[int]) -> dict[int, int]:
    """Messages from others after the viewer's read position, for many conversations at once.

    The callers pass conversations already authorized for this actor.
    """
    ids = sorted({int(i) for i in conversation_ids})
    if actor.user_id is None or not ids:
        return {}
    found = await db.rows(_UNREAD, viewer=int(actor.user_id), ids=ids)
    return {int(row["conversation_id"]): int(row["unread"]) for row in found}


async def messages_by_id(actor: Actor, message_ids: list[int]) -> dict[int, Message]:
    """Messages of conversations the actor may read, by id, in one query (the last messages
    of a page of conversations)."""
    if not message_ids:
        return {}
    return {m.id: m for m in await where_in(Message, "id", padded(message_ids))}


async def attachments_of(actor: Actor, message_ids: list[int]) -> dict[int, list[Document]]:
    """The documents attached to each message the actor may read, in one query (whoever
    reads a conversation may open its attachments)."""
    found: dict[int, list[Document]] = defaultdict(list)
    if message_ids:
        rows = (
            await MessageAttachment.filter(message_id__in=padded(message_ids))
            .select_related("document")
            .order_by("id")
        )
        for row in rows:
            found[row.message_id].append(row.document)
    return found


async def load_message_event(
    actor: Actor, message_id: int, *, conversation_id: int | None = None
) -> Message | None:
    """A new message for a live subscriber, or None if they may no longer see it."""
    message = await Message.get_or_none(id=message_id).select_related("conversation")
    if message is None:
        return None
    conversation: Conversation = message.conversation
    if conversation_id is not None and conversation.id != conversation_id:
        return None
    visible = await visible_conversations(actor).filter(id=conversation.id).exists()
    if not visible or not await still_entitled(actor, conversation):
        return None
    return message


async def still_entitled(actor: Actor, conversation: Conversation) -> bool:
    """Re-read from the database whether the actor may still see the conversation.

    A live subscription keeps the actor of its connection: a provider whose relationship was
    deleted, a client unlinked or a staff member removed must stop receiving at once.
    """
    if conversation.marketplace_id != actor.marketplace_id:
        return False
    if actor.api_key_id is not None:
        return await ApiKey.filter(id=actor.api_key_id, revoked_at=None).exists()
    if (
        actor.is_staff
        and await StaffMember.filter(
            user_id=actor.user_id, marketplace_id=actor.marketplace_id
        ).exists()
    ):
        return True
    conversation_membership: int = conversation.membership_id
    if (
        actor.membership_id is not None
        and actor.membership_id == conversation_membership
        and await Membership.filter(id=actor.membership_id, company__users__id=actor.user_id)
        .exclude(status=MembershipStatus.DELETED)
        .exists()
    ):
        return True
    return (
        actor.client_id is not None
        and actor.client_id == conversation.client_id
        and await Client.filter(id=actor.client_id, user_id=actor.user_id).exists()
    )


# Whoever may read a conversation may open the files attached in it.
ATTACHED_WHERE_VISIBLE = Via(
    "id", MessageAttachment, "document_id", Via("message_id", Message, "id", SEES_MESSAGE)
)
documents.register_visibility(ATTACHED_WHERE_VISIBLE)


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# A provider's Messaging tab (``list_conversations`` with its membership) read from a file
# its reader opens whole (who then sees its conversations: ``SEES_CONVERSATION``); unread
# counts as ``_UNREAD`` counts them, for the viewer.


def _viewer(b: compiled.Builder) -> str:
    return b.param(lambda i: i.actor.user_id, "bigint")


def _unread_count(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    if not b.kind.user:
        return "0"
    viewer, m, p = _viewer(b), b.alias(), b.alias()
    return (
        f"(SELECT count(*) FROM message {m} LEFT JOIN conversation_participant {p} "
        f"ON {p}.conversation_id = {m}.conversation_id AND {p}.user_id = {viewer} "
        f"WHERE {m}.conversation_id = {alias}.id "
        f"AND {m}.id > COALESCE({p}.last_read_message_id, 0) "
        f"AND ({m}.sender_id IS NULL OR {m}.sender_id <> {viewer}))"
    )


def _sent_by_viewer(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    viewer = _viewer(b)
    return f"COALESCE({alias}.sender_id = {viewer}, false)"


def _client_name(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    c = b.alias()
    return f"(SELECT {c}.full_name FROM account_client {c} WHERE {c}.id = {alias}.client_id)"


compiled.declare_type(
    "Message",
    {
        "id": compiled.node_id("Message"),
        "conversationId": compiled.node_id("Conversation", "{t}.conversation_id"),
        "text": compiled.column("{t}.text"),
        "senderRole": compiled.column("{t}.sender_role"),
        "senderName": compiled.column("{t}.sender_name"),
        "sentByViewer": _sent_by_viewer,
        "createdAt": compiled.column("{t}.created_at", "datetime"),
    },
)
compiled.declare_type(
    "Conversation",
    {
        "id": compiled.node_id("Conversation"),
        "kind": compiled.column("{t}.kind"),
        "clientName": _client_name,
        "requestId": compiled.node_id("ServiceRequest", "{t}.request_id"),
        "interventionId": compiled.node_id("Intervention", "{t}.intervention_id"),
        "createdAt": compiled.column("{t}.created_at", "datetime"),
        "lastMessageAt": compiled.column("{t}.last_message_at", "datetime"),
        "unreadCount": _unread_count,
        "lastMessage": compiled.one(
            "Message", "FROM message {c} WHERE {c}.id = {t}.last_message_id"
        ),
    },
)

# The viewer's conversations (``list_conversations`` without a filter: ``SEES_CONVERSATION``),
# a conversation's messages (``list_messages``: every conversation reached here is one the
# actor reads), their attachments (``attachments_of``), and ``node(id:)`` of either.


def _seen(rule: Rule) -> Callable[[compiled.Builder, compiled.Selected], dict[str, str]]:
    def extra(b: compiled.Builder, _s: compiled.Selected) -> dict[str, str]:
        return {"seen": condition(rule, b, "{c}")}

    return extra


def _in_marketplace(read: compiled.Read) -> compiled.Read:
    """``require_marketplace``: without an acting marketplace the standard executor refuses."""

    def gated(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
        if not (b.kind.authenticated and b.kind.in_marketplace):
            raise compiled.Fallback("no acting marketplace")
        return read(b, alias, s)

    return gated


def _membership(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    # Staff and partners read every file of their marketplace whole (tabs included); a
    # provider's or a client's view of a file is the standard executor's to give.
    if not b.kind.whole_marketplace:
        raise compiled.Fallback("a conversation's file, for a party")
    m = b.alias()
    opened, b.opened = b.opened, False
    try:
        body = b.object("Membership", m, s.selection_set)
    finally:
        b.opened = opened
    return f"(SELECT {body} FROM membership {m} WHERE {m}.id = {alias}.membership_id)"


def _attached(name: str, kind: str = "plain") -> compiled.Read:
    def read(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
        d = b.alias()
        value = compiled.encode(f"{d}.{name}", kind)
        return f"(SELECT {value} FROM document {d} WHERE {d}.id = {alias}.document_id)"

    return read


def _paged(node_type: str, rows: str, **options: Any) -> compiled.Read:
    return compiled.keyset_connection(
        node_type,
        rows,
        max_size=lambda: settings().max_page_size,
        decode_cursor=lambda value: decode_cursor(value, field="after"),
        **options,
    )


compiled.declare_type(
    "Membership",
    {
        "conversations": _paged(
            "Conversation",
            "FROM conversation {c} WHERE {seen} AND {c}.membership_id = {t}.id",
            extra=_seen(SEES_CONVERSATION),
        )
    },
)
compiled.declare_root(
    "conversations",
    _in_marketplace(
        _paged("Conversation", "FROM conversation {c} WHERE {seen}", extra=_seen(SEES_CONVERSATION))
    ),
)
# A client's Conversations tab (``conversations_of`` with its client): a client reached here
# is one the actor sees, who then acts in its marketplace.
compiled.declare_type(
    "Client",
    {
        "conversations": _paged(
            "Conversation",
            "FROM conversation {c} WHERE {seen} AND {c}.client_id = {t}.id",
            extra=_seen(SEES_CONVERSATION),
        )
    },
)
compiled.declare_type(
    "Conversation",
    {
        "membership": _membership,
        "messages": _paged("Message", "FROM message {c} WHERE {c}.conversation_id = {t}.id"),
    },
)
compiled.declare_type(
    "Message",
    {
        "attachments": compiled.many(
            "MessageAttachment",
            "FROM message_attachment {c} WHERE {c}.message_id = {t}.id",
            "{c}.id",
        )
    },
)
compiled.declare_type(
    "MessageAttachment",
    {
        "documentId": compiled.node_id("Document", "{t}.document_id"),
        "filename": _attached("filename"),
        "contentType": _attached("content_type"),
        "size": _attached("size"),
        "document": compiled.one("Document", "FROM document {c} WHERE {c}.id = {t}.document_id"),
    },
)
compiled.declare_node(
    "Conversation", compiled.NodeRead(visible_row("conversation", SEES_CONVERSATION))
)
compiled.declare_node("Message", compiled.NodeRead(visible_row("message", SEES_MESSAGE)))
