"""Webhooks in the demo: no endpoint is made (one pointing at nothing would fail for days and
e-mail the admins); the guide says how to try them with a receiver of your own."""

from __future__ import annotations

from typing import Any

from presta.settings import settings


async def load(ctx: dict[str, Any]) -> list[str]:
    where = "loopback allowed" if settings().webhook_loopback_allowed else "public URLs only"
    return [
        "webhooks: none yet; README 'Webhooks' runs a receiver on 127.0.0.1:9000, then "
        f"createWebhookEndpoint as boss@menage-plus.demo ({where})"
    ]
