"""Periodic housekeeping run by the sweep."""

from __future__ import annotations

import logging
from datetime import timedelta

from models.account import RefreshToken
from models.events import Event
from presta import clock
from presta.settings import settings

log = logging.getLogger(__name__)


async def purge_expired_events() -> int:
    """Drop events older than the retention window, and refresh tokens long expired."""
    now = clock.now()
    cutoff = now - timedelta(days=settings().event_retention_days)
    deleted: int = await Event.filter(created_at__lt=cutoff).delete()
    await RefreshToken.filter(expires_at__lt=now - timedelta(days=1)).delete()
    if deleted:
        log.info("purged %d expired events", deleted)
    return deleted


async def oldest_retained_event_id() -> int | None:
    first = await Event.all().order_by("id").first()
    return first.id if first is not None else None
