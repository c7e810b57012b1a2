"""Notifications that fall due with time, found by the periodic sweep: company documents 30
days before they expire and on the day, and the digest of messages left unread 10 minutes.

Each fact found is marked (a ``Notice`` key) in the transaction that enqueues its job: two
sweeps at once, or a sweep run again, enqueue it once.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from datetime import date, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from models.dispatch import Notice
from models.document import Document, DocumentKind
from models.messaging import Participant
from models.notification import NotificationKind as K
from presta import clock, db
from presta.tx import atomic

log = logging.getLogger(__name__)

EXPIRY_NOTICE = timedelta(days=30)
# An expiry older than this when first seen (a sweep down for long, a first deployment) is
# history: nobody is told of it.
EXPIRED_FOR_AT_MOST = timedelta(days=7)
UNREAD_AFTER = timedelta(minutes=10)
# Messages older than this when first seen unread (a first deployment) are not digested.
UNREAD_FOR_AT_MOST = timedelta(days=1)
BATCH = 500


async def sweep_notifications() -> int:
    """Enqueue the notifications due now; returns how many facts were found."""
    return await sweep_expiring_documents() + await sweep_unread_messages()


async def _mark(key: str) -> bool:
    """In the caller's transaction: True the first time a fact is seen (a concurrent sweep
    marking it too fails on the unique key, and its transaction rolls back)."""
    if await Notice.exists(key=key):
        return False
    await Notice.create(key=key)
    return True


async def sweep_expiring_documents() -> int:
    today = clock.now().date()
    found, after = 0, 0
    while True:
        candidates = (
            await Document.filter(
                kind=DocumentKind.COMPANY,
                deleted_at__isnull=True,
                expires_on__gte=today - EXPIRED_FOR_AT_MOST,
                expires_on__lte=today + EXPIRY_NOTICE,
                id__gt=after,
            )
            .order_by("id")
            .limit(BATCH)
        )
        found += await _tell_documents(candidates, today)
        if len(candidates) < BATCH:
            return found
        after = candidates[-1].id


async def _tell_documents(candidates: list[Document], today: date) -> int:
    """Enqueue the facts of these documents not seen before (one query finds those seen)."""
    keys = {document.id: _document_key(document, today) for document in candidates}
    marks = [f"due:{key}" for _, key in keys.values()]
    seen = {str(k) for k in await Notice.filter(key__in=marks).values_list("key", flat=True)}
    found = 0
    for document in candidates:
        kind, key = keys[document.id]
        if f"due:{key}" in seen or await _replaced(document):
            continue
        with contextlib.suppress(IntegrityError):  # another sweep took it
            async with atomic() as tx:
                if not await _mark(f"due:{key}"):
                    continue
                tx.enqueue("send_notification", kind=kind.value, key=key, object_id=document.id)
                found += 1
    return found


def _document_key(document: Document, today: date) -> tuple[K, str]:
    assert document.expires_on is not None
    kind = K.DOCUMENT_EXPIRED if document.expires_on <= today else K.DOCUMENT_EXPIRING
    return kind, f"{kind.value.lower()}:{document.id}:{document.expires_on.isoformat()}"


async def _replaced(document: Document) -> bool:
    """A newer document of the same type, valid longer, makes this one's expiry moot."""
    if document.document_type_id is None or document.company_id is None:
        return False
    return await (
        Document.filter(
            company_id=document.company_id,
            document_type_id=document.document_type_id,
            deleted_at__isnull=True,
            id__gt=document.id,
        )
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gt=document.expires_on))
        .exists()
    )


_UNREAD = """
SELECT p.id, p.user_id, p.conversation_id, c.marketplace_id, c.last_message_id
FROM conversation_participant p
JOIN conversation c ON c.id = p.conversation_id
WHERE c.last_message_at > :since
  AND c.last_message_id > GREATEST(p.last_read_message_id, p.notified_message_id)
  AND EXISTS (
    SELECT 1 FROM message m
    WHERE m.conversation_id = c.id
      AND m.id > GREATEST(p.last_read_message_id, p.notified_message_id)
      AND m.sender_id IS DISTINCT FROM p.user_id
      AND m.created_at <= :due
      AND m.created_at > :since
  )
ORDER BY p.user_id, p.id
LIMIT :limit
"""


async def sweep_unread_messages() -> int:
    """One digest per participant and marketplace for messages unread 10 minutes: the
    messages it covers are not covered again, so the next digest waits for newer ones."""
    now = clock.now()
    rows = await db.rows(
        _UNREAD, due=now - UNREAD_AFTER, since=now - UNREAD_FOR_AT_MOST, limit=BATCH
    )
    groups: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    for row in rows:
        groups[(row["user_id"], row["marketplace_id"])].append(
            (row["id"], row["conversation_id"], row["last_message_id"])
        )
    found = 0
    for (user_id, marketplace_id), participants in groups.items():
        async with atomic() as tx:
            covered: list[int] = []
            for participant_id, conversation_id, last_message_id in participants:
                moved = await Participant.filter(
                    id=participant_id, notified_message_id__lt=last_message_id
                ).update(notified_message_id=last_message_id)
                if moved:
                    covered.append(conversation_id)
            if not covered:
                continue
            newest = max(last for _, _, last in participants)
            tx.enqueue(
                "send_notification",
                kind=K.UNREAD_MESSAGES.value,
                key=f"unread:{user_id}:{marketplace_id}:{newest}",
                object_id=user_id,
                extra={"marketplace_id": marketplace_id, "conversations": covered},
            )
            found += 1
    return found
