"""Matching: the memberships that may take a request for a service at an address.

One SQL statement, driven by the address: the btree on ``zone_key.key`` finds the zones that
contain the postal code, its département or the grid cell of the coordinates (circles are then
checked by haversine distance); only those candidates are checked (membership, service,
documents), each by index probes. The cost follows the number of providers whose zone holds the
address, not the size of the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from tortoise import connections

from models.catalog import ProviderService, ProviderServiceStatus, Service
from models.document import Document, DocumentKind, RequiredDocumentType
from models.membership import Membership, MembershipStatus
from models.zone import EARTH_RADIUS_KM, cell_key, normalize_postal_code, prefix_of
from presta import clock
from presta.db import bind
from presta.settings import settings
from resolvers.actor import Actor
from resolvers.errors import CommonCode, UserError, not_found
from resolvers.terms import terms_overdue_from

_DISTANCE = f"""2 * {EARTH_RADIUS_KM} * asin(sqrt(
    power(sin(radians(z.latitude - :lat) / 2), 2)
    + cos(radians(:lat)) * cos(radians(z.latitude))
      * power(sin(radians(z.longitude - :lon) / 2), 2)))"""

# Zones containing the address: (company_id, membership_id) of company zones and restrictions.
_HITS = """
SELECT DISTINCT z.company_id, z.membership_id FROM zone_key z
WHERE z.key IN ({keys}) AND (z.radius_km IS NULL OR {distance} <= z.radius_km)"""

# Candidate memberships: the restrictions hit, and the memberships (in this marketplace) of the
# companies whose zone is hit when they have no restriction. Scalar subqueries, not joins:
# PostgreSQL then probes the indexes once per candidate, whatever its row estimates, instead of
# sometimes hashing the whole membership or provider_service table (seen: 8 ms -> 170 ms).
_CANDIDATES = """
SELECT hit.membership_id AS id FROM hit WHERE hit.membership_id IS NOT NULL
UNION
SELECT (SELECT m.id FROM membership m
        WHERE m.marketplace_id = :mp AND m.company_id = hit.company_id
          AND NOT EXISTS (SELECT 1 FROM zone_restriction r WHERE r.membership_id = m.id))
FROM hit WHERE hit.company_id IS NOT NULL"""

_SERVICE_ACCEPTED = """EXISTS (
  SELECT 1 FROM provider_service ps JOIN service s ON s.id = ps.service_id
  WHERE ps.membership_id = m.id AND ps.service_id = :service AND ps.status = 'ACCEPTED'
    AND s.archived_at IS NULL AND s.marketplace_id = :mp)"""

_DOCUMENTS_VALID = """NOT EXISTS (
  SELECT 1 FROM required_document_type rq
  WHERE rq.marketplace_id = :mp AND NOT EXISTS (
    SELECT 1 FROM document d
    WHERE d.company_id = m.company_id AND d.document_type_id = rq.document_type_id
      AND d.kind = 'COMPANY' AND d.deleted_at IS NULL
      AND (d.expires_on IS NULL OR d.expires_on > :today)))"""

# New terms of use not accepted past the marketplace's grace period: no new requests.
_TERMS_IN_FORCE = """NOT EXISTS (
  SELECT 1 FROM terms_version tv JOIN marketplace mk ON mk.id = tv.marketplace_id
  WHERE tv.marketplace_id = :mp AND tv.number > COALESCE(m.terms_version_accepted, 0)
    AND tv.published_at + make_interval(days => mk.terms_grace_days) <= :now)"""

_MATCH = f"""
WITH hit AS ({{hits}}), c AS ({_CANDIDATES})
SELECT c.id FROM c
WHERE (SELECT 1 FROM membership m
       WHERE m.id = c.id AND m.marketplace_id = :mp
         AND m.status = '{MembershipStatus.ACCEPTED.value}'
         AND {_SERVICE_ACCEPTED}
         AND {_DOCUMENTS_VALID}
         AND {_TERMS_IN_FORCE}) = 1
ORDER BY c.id"""

_ZONE_ONLY = f"""
WITH hit AS ({{hits}}), c AS ({_CANDIDATES})
SELECT c.id FROM c
WHERE (SELECT 1 FROM membership m WHERE m.id = c.id AND m.marketplace_id = :mp) = 1"""


async def matching_membership_ids(
    *,
    marketplace_id: int,
    service_id: int,
    postal_code: str,
    latitude: float | None = None,
    longitude: float | None = None,
    on: date | None = None,
) -> list[int]:
    """Memberships that match: ACCEPTED, service ACCEPTED and live, address in the effective
    zone, every required company document valid on ``on`` (today by default), and no terms of
    use left unaccepted past the grace period."""
    sql, params = match_statement(
        marketplace_id=marketplace_id,
        service_id=service_id,
        postal_code=postal_code,
        latitude=latitude,
        longitude=longitude,
        on=on or clock.now().date(),
        now=clock.now(),
    )
    return [row[0] for row in await _fetch(sql, params)]


def match_statement(
    *,
    marketplace_id: int,
    service_id: int,
    postal_code: str,
    latitude: float | None,
    longitude: float | None,
    on: date,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The matching SQL with ``:named`` parameters (``bind`` numbers them)."""
    sql, params = _address_sql(_MATCH, postal_code, latitude, longitude)
    return sql, params | {
        "mp": marketplace_id,
        "service": service_id,
        "today": on,
        "now": now or clock.now(),
    }


async def membership_ids_in_zone(
    *,
    marketplace_id: int,
    postal_code: str,
    latitude: float | None = None,
    longitude: float | None = None,
) -> set[int]:
    """Memberships of the marketplace whose effective zone contains the address."""
    sql, params = _address_sql(_ZONE_ONLY, postal_code, latitude, longitude)
    params["mp"] = marketplace_id
    return {row[0] for row in await _fetch(sql, params)}


def address_keys(postal_code: str, latitude: float | None, longitude: float | None) -> list[str]:
    """The zone keys an address falls in (raises INVALID on a malformed postal code)."""
    code = normalize_postal_code(postal_code)
    if code is None:
        raise UserError(CommonCode.INVALID, "Malformed postal code.", field="postalCode")
    keys = [code, prefix_of(code)]
    if latitude is not None and longitude is not None:
        keys.append(cell_key(latitude, longitude))
    return keys


def _address_sql(
    template: str, postal_code: str, latitude: float | None, longitude: float | None
) -> tuple[str, dict[str, Any]]:
    keys = address_keys(postal_code, latitude, longitude)
    params: dict[str, Any] = {f"k{i}": key for i, key in enumerate(keys)}
    with_point = latitude is not None and longitude is not None
    if with_point:
        params |= {"lat": float(latitude), "lon": float(longitude)}  # type: ignore[arg-type]
    hits = _HITS.format(
        keys=", ".join(f":k{i}" for i in range(len(keys))),
        # Without coordinates no cell key is searched, so no circle row can be a hit.
        distance=_DISTANCE if with_point else "NULL",
    )
    return template.format(hits=hits), params


async def _fetch(sql: str, params: dict[str, Any]) -> list[Any]:
    text, values = bind(sql, params)
    _, rows = await connections.get("default").execute_query(text, values)
    return [tuple(row) for row in rows]


class MatchReason(StrEnum):
    WRONG_STATUS = "WRONG_STATUS"
    SERVICE_ARCHIVED = "SERVICE_ARCHIVED"
    SERVICE_NOT_ACCEPTED = "SERVICE_NOT_ACCEPTED"
    OUTSIDE_ZONE = "OUTSIDE_ZONE"
    DOCUMENT_MISSING = "DOCUMENT_MISSING"
    DOCUMENT_EXPIRED = "DOCUMENT_EXPIRED"
    TERMS_NOT_ACCEPTED = "TERMS_NOT_ACCEPTED"


@dataclass(frozen=True, slots=True)
class MatchReport:
    matched: list[Membership]
    unmatched: list[tuple[Membership, list[MatchReason]]]
    unmatched_total: int


async def explain_matching(
    actor: Actor,
    *,
    service_id: int,
    postal_code: str,
    latitude: float | None = None,
    longitude: float | None = None,
    first: int = 100,
) -> MatchReport:
    """Staff see who matches an address and why each other provider does not."""
    marketplace_id = actor.require_reader()
    if (latitude is None) != (longitude is None):
        raise UserError(
            CommonCode.INVALID, "Give both latitude and longitude, or neither.", field="latitude"
        )
    if (
        latitude is not None
        and longitude is not None
        and not (-90 <= latitude <= 90 and -180 <= longitude <= 180)
    ):
        raise UserError(CommonCode.INVALID, "Coordinates out of range.", field="latitude")
    if not 0 <= first <= settings().max_page_size:
        raise UserError(CommonCode.INVALID, "Too many providers asked for.", field="first")
    service = await Service.get_or_none(id=service_id, marketplace_id=marketplace_id)
    if service is None:
        raise not_found("Service", field="serviceId")
    matched_ids = await matching_membership_ids(
        marketplace_id=marketplace_id,
        service_id=service_id,
        postal_code=postal_code,
        latitude=latitude,
        longitude=longitude,
    )
    members = Membership.filter(marketplace_id=marketplace_id).exclude(
        status=MembershipStatus.DELETED
    )
    matched = (
        await members.filter(id__in=matched_ids)
        .order_by("id")
        .select_related("company", "marketplace")
    )
    others = members.exclude(id__in=matched_ids)
    page = await others.order_by("id").limit(first).select_related("company", "marketplace")
    reasons = await _reasons(
        page,
        service=service,
        in_zone=await membership_ids_in_zone(
            marketplace_id=marketplace_id,
            postal_code=postal_code,
            latitude=latitude,
            longitude=longitude,
        ),
    )
    return MatchReport(
        matched=matched,
        unmatched=[(m, reasons[m.id]) for m in page],
        unmatched_total=await others.count(),
    )


async def _reasons(
    memberships: list[Membership], *, service: Service, in_zone: set[int]
) -> dict[int, list[MatchReason]]:
    ids = [m.id for m in memberships]
    accepted = set(
        await ProviderService.filter(
            membership_id__in=ids, service_id=service.id, status=ProviderServiceStatus.ACCEPTED
        ).values_list("membership_id", flat=True)
    )
    required: set[int] = set(
        await RequiredDocumentType.filter(marketplace_id=service.marketplace_id).values_list(
            "document_type_id", flat=True
        )  # type: ignore[arg-type]
    )
    today = clock.now().date()
    held: dict[tuple[int, int], bool] = {}  # (company, type) -> some copy still valid
    if required:
        for company_id, type_id, expires_on in await Document.filter(
            company_id__in=[m.company_id for m in memberships],
            document_type_id__in=required,
            kind=DocumentKind.COMPANY,
            deleted_at=None,
        ).values_list("company_id", "document_type_id", "expires_on"):
            valid = expires_on is None or expires_on > today
            held[(company_id, type_id)] = held.get((company_id, type_id), False) or valid
    overdue_from = await terms_overdue_from(service.marketplace_id)
    out: dict[int, list[MatchReason]] = {}
    for m in memberships:
        why: list[MatchReason] = []
        if m.status is not MembershipStatus.ACCEPTED:
            why.append(MatchReason.WRONG_STATUS)
        if service.archived_at is not None:
            why.append(MatchReason.SERVICE_ARCHIVED)
        if m.id not in accepted:
            why.append(MatchReason.SERVICE_NOT_ACCEPTED)
        if m.id not in in_zone:
            why.append(MatchReason.OUTSIDE_ZONE)
        copies = [held.get((m.company_id, t)) for t in required]
        if None in copies:
            why.append(MatchReason.DOCUMENT_MISSING)
        if False in copies:
            why.append(MatchReason.DOCUMENT_EXPIRED)
        if (m.terms_version_accepted or 0) < overdue_from:
            why.append(MatchReason.TERMS_NOT_ACCEPTED)
        out[m.id] = why
    return out
