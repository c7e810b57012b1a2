"""Matching: the memberships that may take a request for a service at an address.

One SQL statement, driven by the address: the btree on ``zone_key.key`` finds the zones that
contain the postal code, its département or the grid cell of the coordinates (circles are then
checked by haversine distance); only those candidates are checked (membership, service,
documents), each by index probes. The cost follows the number of providers whose zone holds the
address, not the size of the network.

An address without coordinates is placed at its postal code's centroid (``presta.postal``):
circle zones hold it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from tortoise import connections

from models.catalog import ProviderService, ProviderServiceStatus, Service
from models.document import (
    Document,
    DocumentKind,
    DocumentReview,
    DocumentReviewStatus,
    RequiredDocumentType,
)
from models.membership import Membership, MembershipStatus
from models.zone import EARTH_RADIUS_KM, cell_key, normalize_postal_code, prefix_of
from presta import clock, postal
from presta.db import bind
from presta.i18n import Text, _
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
      AND (d.expires_on IS NULL OR d.expires_on > :today)
      AND NOT EXISTS (
        SELECT 1 FROM document_review rv
        WHERE rv.document_id = d.id AND rv.marketplace_id = :mp AND rv.status = 'REJECTED')))"""

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


@dataclass(frozen=True, slots=True)
class Location:
    """Where an address is matched: its postal code, and a point when one is known."""

    postal_code: str
    latitude: float | None
    longitude: float | None
    # The point is the postal code's centroid: the address came without coordinates.
    centroid: bool = False


def locate(postal_code: str, latitude: float | None, longitude: float | None) -> Location:
    """The address's point: its coordinates, else its postal code's centroid (raises INVALID
    on a malformed postal code)."""
    code = normalize_postal_code(postal_code)
    if code is None:
        raise UserError(CommonCode.INVALID, _("Malformed postal code."), field="postalCode")
    if latitude is not None and longitude is not None:
        return Location(code, float(latitude), float(longitude))
    found = postal.centroid(code)
    if found is None:
        return Location(code, None, None)
    return Location(code, found[0], found[1], centroid=True)


def address_keys(where: Location) -> list[str]:
    """The zone keys an address falls in."""
    keys = [where.postal_code, prefix_of(where.postal_code)]
    if where.latitude is not None and where.longitude is not None:
        keys.append(cell_key(where.latitude, where.longitude))
    return keys


def _address_sql(
    template: str, postal_code: str, latitude: float | None, longitude: float | None
) -> tuple[str, dict[str, Any]]:
    where = locate(postal_code, latitude, longitude)
    keys = address_keys(where)
    params: dict[str, Any] = {f"k{i}": key for i, key in enumerate(keys)}
    with_point = where.latitude is not None and where.longitude is not None
    if with_point:
        params |= {"lat": where.latitude, "lon": where.longitude}
    hits = _HITS.format(
        keys=", ".join(f":k{i}" for i in range(len(keys))),
        # Without a point no cell key is searched, so no circle row can be a hit.
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
    DOCUMENT_REJECTED = "DOCUMENT_REJECTED"
    TERMS_NOT_ACCEPTED = "TERMS_NOT_ACCEPTED"


@dataclass(frozen=True, slots=True)
class MatchReport:
    matched: list[Membership]
    unmatched: list[tuple[Membership, list[MatchReason]]]
    unmatched_total: int
    location: Location

    @property
    def explanation(self) -> Text:
        """How the address was placed, for the staff reading the report."""
        where = self.location
        if where.centroid:
            return _(
                "The address has no coordinates: circle zones were matched against the "
                "centroid of postal code {code} ({latitude:.4f}, {longitude:.4f}).",
                code=where.postal_code,
                latitude=where.latitude,
                longitude=where.longitude,
            )
        if where.latitude is None:
            return _(
                "The address has no coordinates and postal code {code} has no known centroid: "
                "only postal codes and départements were matched, no circle zone.",
                code=where.postal_code,
            )
        return _(
            "Circle zones were matched against the address's coordinates ({latitude:.4f}, "
            "{longitude:.4f}).",
            latitude=where.latitude,
            longitude=where.longitude,
        )


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
            CommonCode.INVALID, _("Give both latitude and longitude, or neither."), field="latitude"
        )
    if (
        latitude is not None
        and longitude is not None
        and not (-90 <= latitude <= 90 and -180 <= longitude <= 180)
    ):
        raise UserError(CommonCode.INVALID, _("Coordinates out of range."), field="latitude")
    if not 0 <= first <= settings().max_page_size:
        raise UserError(CommonCode.INVALID, _("Too many providers asked for."), field="first")
    service = await Service.get_or_none(id=service_id, marketplace_id=marketplace_id)
    if service is None:
        raise not_found(_("Service"), field="serviceId")
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
        location=locate(postal_code, latitude, longitude),
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
    # (company, type) -> whether some copy is valid, and whether every copy was rejected
    held: dict[tuple[int, int], bool] = {}
    rejected_only: dict[tuple[int, int], bool] = {}
    if required:
        filed = await Document.filter(
            company_id__in=[m.company_id for m in memberships],
            document_type_id__in=required,
            kind=DocumentKind.COMPANY,
            deleted_at=None,
        ).values_list("id", "company_id", "document_type_id", "expires_on")
        rejected = set(
            await DocumentReview.filter(
                document_id__in=[row[0] for row in filed] or [0],
                marketplace_id=service.marketplace_id,
                status=DocumentReviewStatus.REJECTED,
            ).values_list("document_id", flat=True)
        )
        for document_id, company_id, type_id, expires_on in filed:
            key = (company_id, type_id)
            was_rejected = document_id in rejected
            rejected_only[key] = rejected_only.get(key, True) and was_rejected
            valid = not was_rejected and (expires_on is None or expires_on > today)
            held[key] = held.get(key, False) or valid
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
        refused = [rejected_only.get((m.company_id, t), False) for t in required]
        if None in copies:
            why.append(MatchReason.DOCUMENT_MISSING)
        if any(copy is False and not no for copy, no in zip(copies, refused, strict=True)):
            why.append(MatchReason.DOCUMENT_EXPIRED)
        if any(refused):
            why.append(MatchReason.DOCUMENT_REJECTED)
        if (m.terms_version_accepted or 0) < overdue_from:
            why.append(MatchReason.TERMS_NOT_ACCEPTED)
        out[m.id] = why
    return out
