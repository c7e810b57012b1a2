"""Data portability (GDPR): everything the platform holds about a provider's company, as JSON."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from tortoise.expressions import Q

from models.catalog import ProviderService
from models.consent import ConsentRecord
from models.dispatch import Dispatch
from models.document import Document
from models.intervention import Intervention
from models.membership import Membership, MembershipStatus, ProviderCompany
from models.messaging import Conversation, Message, MessageAttachment
from models.zone import ZoneEntry
from presta import clock
from presta.i18n import _
from resolvers.actor import Actor
from resolvers.errors import forbidden

EXPORT_FORMAT = 1

_DOCUMENT_FIELDS = (
    "id", "kind", "membership_id", "document_type__code", "title", "filename", "content_type",
    "size", "sha256", "valid_from", "expires_on", "created_at", "deleted_at",
)  # fmt: skip
_ZONE_FIELDS = ("id", "membership_id", "kind", "code", "latitude", "longitude", "radius_km")


async def export_my_data(actor: Actor) -> dict[str, Any]:
    """A provider user exports its company's data, in every marketplace it still belongs to."""
    actor.require_user()
    if actor.company_id is None:
        raise forbidden(_("Only a provider's users may export its data."))
    company = await ProviderCompany.get(id=actor.company_id)
    memberships = (
        await Membership.filter(company_id=company.id)
        .exclude(status=MembershipStatus.DELETED)
        .select_related("marketplace")
        .order_by("id")
    )
    ids = [m.id for m in memberships]
    per_membership = {
        "services": await _grouped(
            ProviderService.filter(membership_id__in=ids).order_by("id"),
            "id", "membership_id", "service_id", "service__name", "status", "reason", "updated_at",
        ),
        "consents": await _grouped(
            ConsentRecord.filter(membership_id__in=ids).order_by("id"),
            "id", "membership_id", "channel", "granted", "wording_version", "source",
            "actor__email", "created_at",
        ),
        "requests": await _grouped(
            Dispatch.filter(membership_id__in=ids).order_by("id"),
            "id", "membership_id", "request_id", "round", "status", "message", "price",
            "answered_at", "created_at", "request__service__name", "request__postal_code",
            "request__city", "request__status", "request__description", "request__created_at",
        ),
        "interventions": await _grouped(
            Intervention.filter(membership_id__in=ids).order_by("id"),
            "id", "membership_id", "request_id", "service__name", "client__full_name", "status",
            "starts_at", "ends_at", "price", "commission_rate", "cancel_reason", "created_at",
        ),
        "conversations": await _conversations(ids),
    }  # fmt: skip
    documents = (
        await Document.filter(Q(company_id=company.id) | Q(membership_id__in=ids))
        .order_by("id")
        .values(*_DOCUMENT_FIELDS)
    )
    zone = (
        await ZoneEntry.filter(Q(company_id=company.id) | Q(membership_id__in=ids))
        .order_by("id")
        .values(*_ZONE_FIELDS)
    )
    data: dict[str, Any] = _plain(
        {
            "format": EXPORT_FORMAT,
            "generated_at": clock.now(),
            "company": {
                "id": company.id,
                "name": company.name,
                "siret": company.siret,
                "email": company.email,
                "phone": company.phone,
                "listed_in_directory": company.listed_in_directory,
                "created_at": company.created_at,
            },
            "action_zone": [z for z in zone if z["membership_id"] is None],
            "company_documents": [d for d in documents if d["membership_id"] is None],
            "memberships": [
                {
                    "id": m.id,
                    "marketplace": {"id": m.marketplace.id, "name": m.marketplace.name},
                    "status": m.status,
                    "terms_version_accepted": m.terms_version_accepted,
                    "applied_at": m.applied_at,
                    "decided_at": m.decided_at,
                    "created_at": m.created_at,
                    "zone_restriction": [z for z in zone if z["membership_id"] == m.id],
                    "documents": [d for d in documents if d["membership_id"] == m.id],
                    **{name: rows.get(m.id, []) for name, rows in per_membership.items()},
                }
                for m in memberships
            ],
        }
    )
    return data


async def _grouped(query: Any, *fields: str) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in await query.values(*fields):
        grouped[row["membership_id"]].append(row)
    return grouped


async def _conversations(membership_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    query = Conversation.filter(membership_id__in=membership_ids).order_by("id")
    conversations = await query.values(
        "id", "membership_id", "kind", "client__full_name", "request_id", "intervention_id",
        "created_at",
    )  # fmt: skip
    messages = (
        await Message.filter(conversation_id__in=[c["id"] for c in conversations])
        .order_by("id")
        .values("id", "conversation_id", "sender_role", "sender_name", "text", "created_at")
    )
    attachments = await MessageAttachment.filter(message_id__in=[m["id"] for m in messages]).values(
        "message_id", "document_id", "document__filename"
    )
    files: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in attachments:
        files[a["message_id"]].append(
            {"document_id": a["document_id"], "filename": a["document__filename"]}
        )
    by_conversation: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in messages:
        by_conversation[m.pop("conversation_id")].append({**m, "attachments": files[m["id"]]})
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in conversations:
        grouped[c["membership_id"]].append({**c, "messages": by_conversation[c["id"]]})
    return grouped


def _plain(value: Any) -> Any:
    """JSON-ready: dates as ISO 8601, decimals as strings (no rounding), enums as their value."""
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value
