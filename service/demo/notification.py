"""Demo data for notifications: a document about to expire, a preference turned off.

The visits scheduled by the dispatch demo are told by e-mail once the demo data commits; the
sweep (every minute) tells of the expiring document. The e-mails land in ``var/mail/``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from models.document import Document
from models.notification import NotificationKind
from presta import clock
from resolvers.account import actor_for_user
from resolvers.notification import update_notification_preferences

EXPIRES_IN = timedelta(days=20)


async def load(ctx: dict[str, Any]) -> list[str]:
    membership, user = ctx.get("membership"), ctx.get("provider_user")
    if membership is None or user is None:
        return []
    kbis = await Document.filter(
        company_id=membership.company_id, document_type__code="KBIS", deleted_at=None
    ).first()
    lines = []
    if kbis is not None:
        kbis.expires_on = (clock.now() + EXPIRES_IN).date()
        await kbis.save(update_fields=["expires_on"])
        lines.append(
            f"notifications: {user.email}'s Kbis expires in {EXPIRES_IN.days} days: the sweep "
            "e-mails the provider within a minute (and staff on the day it expires)"
        )
    actor = await actor_for_user(user, membership.marketplace_id)
    await update_notification_preferences(actor, [(NotificationKind.UNREAD_MESSAGES, False)])
    return [
        *lines,
        f"notifications: {user.email} turned unread-message e-mails off "
        "(notificationPreferences); every e-mail sent lands in var/mail/; subscribe to "
        "notificationReceived, interventionUpdated or marketplaceEvents (staff) to see them live",
    ]
