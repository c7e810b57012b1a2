"""Live feeds of the marketplace's objects: who still receives them, and what each event says.

Roles change while a websocket stays open: every live event re-checks that the viewer still
holds the role it subscribed with (``still_present``) before the object is read with the
domain's own visibility rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.catalog import ProviderService
from models.events import Event
from models.intervention import Intervention
from models.membership import MembershipStatus
from presta import db
from presta.sharing import Shared
from resolvers import catalog, intervention, invoice, membership, terms, zone
from resolvers.actor import Actor
from resolvers.dispatch.core import REQUEST_UPDATED
from resolvers.document import DOCUMENT_REVIEWED

# What ``marketplaceEvents`` carries: every change of an object of the marketplace.
MARKETPLACE_TOPICS: tuple[str, ...] = (
    intervention.INTERVENTION_UPDATED,
    catalog.PROVIDER_SERVICE_UPDATED,
    catalog.SERVICE_UPDATED,
    zone.ZONE_UPDATED,
    terms.TERMS_PUBLISHED,
    terms.TERMS_ACCEPTED,
    invoice.INVOICE_FILED,
    membership.MEMBERSHIP_UPDATED,
    REQUEST_UPDATED,
    DOCUMENT_REVIEWED,
)


async def still_present(actor: Actor) -> bool:
    """Staff still on the marketplace's staff, a key not revoked, a provider not removed
    from the marketplace, a provider user still on its company's account, a user still
    active: one statement."""
    checks, params = _presence(actor)
    if not checks:
        return True
    found = await db.rows("SELECT " + " AND ".join(checks) + " AS present", **params)
    return bool(found[0]["present"])


def _presence(actor: Actor) -> tuple[list[str], dict[str, Any]]:
    checks: list[str] = []
    params: dict[str, Any] = {}
    if actor.user_id is not None:
        params["user_id"] = actor.user_id
        checks.append("EXISTS (SELECT 1 FROM account_user WHERE id = :user_id AND is_active)")
    if actor.user_id is not None and actor.membership_id is not None:
        # A provider user still on its company's account (``remove_colleague``).
        params["company_id"] = actor.company_id
        checks.append(
            "EXISTS (SELECT 1 FROM account_user WHERE id = :user_id "
            "AND provider_company_id = :company_id)"
        )
    if actor.api_key_id is not None:
        params["key_id"] = actor.api_key_id
        checks.append(
            "EXISTS (SELECT 1 FROM account_api_key WHERE id = :key_id AND revoked_at IS NULL)"
        )
    elif actor.staff_role is not None:
        params |= {"user_id": actor.user_id, "marketplace_id": actor.marketplace_id}
        checks.append(
            "EXISTS (SELECT 1 FROM account_staff_member "
            "WHERE user_id = :user_id AND marketplace_id = :marketplace_id)"
        )
    elif actor.membership_id is not None and actor.client_id is None:
        # A provider who is also the marketplace's client still follows its client side.
        params["membership_id"] = actor.membership_id
        checks.append(
            "NOT EXISTS (SELECT 1 FROM membership "
            f"WHERE id = :membership_id AND status = '{MembershipStatus.DELETED.value}')"
        )
    return checks, params


# An event's row is the same for every viewer it is handed to: read once per event.
_EVENTS: Shared[Event | None] = Shared(seconds=0.5, kept=256)


@dataclass(frozen=True, slots=True)
class MarketplaceEvent:
    id: int
    topic: str
    object_type: str
    object_id: int
    change: str | None
    occurred_at: datetime


async def marketplace_event(actor: Actor, envelope: dict[str, Any]) -> MarketplaceEvent | None:
    """An event addressed to the viewer (the feed only hands those over), while the viewer
    still holds its role."""
    if not await still_present(actor):
        return None
    event_id = int(envelope["id"])
    event = await _EVENTS.get(event_id, lambda: Event.get_or_none(id=event_id))
    if event is None:
        return None
    change = event.payload.get("change")
    return MarketplaceEvent(
        id=event.id,
        topic=event.topic,
        object_type=event.object_type,
        object_id=event.object_id,
        change=str(change) if change is not None else None,
        occurred_at=event.created_at,
    )


async def live_intervention(actor: Actor, intervention_id: int) -> Intervention | None:
    """A visit as the viewer now sees it: staff the marketplace's, a provider and a client
    their own."""
    if not await still_present(actor):
        return None
    found = await intervention.visible_interventions(actor, [intervention_id])
    return found[0] if found else None


async def live_provider_service(actor: Actor, row_id: int) -> ProviderService | None:
    """A provider's application for a service: staff see every provider's, a provider its own."""
    if not await still_present(actor):
        return None
    return (await catalog.visible_provider_services(actor, [row_id])).get(row_id)
