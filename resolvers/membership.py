"""The provider relationship: who sees a provider's file, and reading files.

Their lifecycle transitions are in ``resolvers.lifecycle``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from models.catalog import ProviderService
from models.document import Document, DocumentKind
from models.membership import Membership, MembershipAudit, MembershipStatus
from presta import clock
from presta.db import padded
from presta.i18n import _
from presta.settings import settings
from presta.statements import select, where_in
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.compiled.rules import (
    Among,
    Flag,
    Same,
    all_of,
    any_of,
    condition,
    holds,
    visible_row,
    where,
)
from resolvers.document import current_terms_version
from resolvers.errors import AuthError, not_found
from resolvers.pagination import Page, decode_cursor, keyset_page
from resolvers.terms import current_terms_numbers

MEMBERSHIP_UPDATED = "membership.updated"

S = MembershipStatus
EXPIRING_SOON_DAYS = 30


class MembershipErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    INTERVENTIONS_PENDING = "INTERVENTIONS_PENDING"
    APPLICATION_INCOMPLETE = "APPLICATION_INCOMPLETE"
    REASON_REQUIRED = "REASON_REQUIRED"


class DocumentExpiry(StrEnum):
    EXPIRED = "EXPIRED"
    EXPIRING_SOON = "EXPIRING_SOON"


# Written once for the loaders (``where``, ``holds``) and the compiled path (``condition``).
CAN_SEE = all_of(
    Same("marketplace_id", "marketplace_id"),
    any_of(Flag("sees_whole_marketplace"), Same("company_id", "company_id")),
)


# The files whose tabs the actor reads whole (``Actor.sees_tab_of``, ``require_tab``), and
# those it opens with their tabs: never a DELETED one (``sees_file``).
LIVE = tuple(s.value for s in MembershipStatus if s is not S.DELETED)
OPENS_TABS = all_of(
    Same("marketplace_id", "marketplace_id"),
    any_of(Flag("sees_whole_marketplace"), Same("id", "membership_id")),
)
SEES_FILE = all_of(OPENS_TABS, Among("status", LIVE))


def can_see(actor: Actor, membership: Membership) -> bool:
    """Staff and partners of its marketplace; users of its company acting in that marketplace."""
    return holds(CAN_SEE, actor, membership)


def sees_file(actor: Actor, membership: Membership) -> bool:
    """Whether the actor opens this provider's file and its tabs: staff and partners of its
    marketplace, or the provider itself (``Actor.sees_tab_of``); never a DELETED file."""
    return holds(SEES_FILE, actor, membership)


def require_tab(actor: Actor, membership_id: int) -> int:
    """The acting marketplace, when the actor reads this provider's tabs whole; another
    provider's tabs do not exist for it."""
    marketplace_id = actor.require_marketplace()
    if not actor.sees_tab_of(membership_id):
        raise not_found(_("Membership"), field="membershipId")
    return marketplace_id


def split_files(
    actor: Actor, files: list[Membership]
) -> tuple[list[Membership], dict[int, Exception]]:
    """The files the actor may open (``sees_file``), and the error each other one gives."""
    allowed = [m for m in files if sees_file(actor, m)]
    denied: dict[int, Exception] = {}
    for m in files:
        if not sees_file(actor, m):
            try:
                actor.require_marketplace()
                denied[m.id] = not_found(_("Membership"), field="membershipId")
            except AuthError as error:
                denied[m.id] = error
    return allowed, denied


async def visible_memberships(actor: Actor, ids: Iterable[int]) -> list[Membership]:
    """The files of ``ids`` the actor may see (``CAN_SEE``), for a batch."""
    wanted = list(ids)
    if not wanted:
        return []
    rows = where(Membership.filter(id__in=wanted), CAN_SEE, actor)
    return list(await rows.select_related("company", "marketplace"))


async def my_memberships(actor: Actor) -> list[Membership]:
    """A provider user's files: in the acting marketplace, or in every one when none is named."""
    actor.require_user()
    if actor.company_id is None:
        return []
    company_id, marketplace_id = actor.company_id, actor.marketplace_id

    def files() -> QuerySet[Membership]:
        query = Membership.filter(company_id=company_id).exclude(status=S.DELETED)
        if marketplace_id is not None:
            query = query.filter(marketplace_id=marketplace_id)
        return query.select_related("company", "marketplace").order_by("id")

    # Asked by every provider app on opening: its SQL is built once (presta.statements).
    if marketplace_id is None:
        return await select("my files", [company_id, S.DELETED.value], files)
    return await select("my files here", [company_id, S.DELETED.value, marketplace_id], files)


async def list_providers(
    actor: Actor,
    *,
    status: MembershipStatus | None = None,
    service_id: int | None = None,
    text: str | None = None,
    document_expiry: DocumentExpiry | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Membership]:
    """Staff list the marketplace's providers, newest first; DELETED only when asked for."""
    marketplace_id = actor.require_reader()
    query = Membership.filter(marketplace_id=marketplace_id)
    query = query.filter(status=status) if status else query.exclude(status=S.DELETED)
    if service_id is not None:
        applied = await ProviderService.filter(
            service_id=service_id, service__marketplace_id=marketplace_id
        ).values_list("membership_id", flat=True)
        query = query.filter(id__in=_ids(applied))
    if text and text.strip():
        words = text.strip()
        query = query.filter(
            Q(company__name__icontains=words)
            | Q(company__email__icontains=words)
            | Q(company__siret__startswith=words.replace(" ", ""))
        )
    if document_expiry is not None:
        companies = await _companies_with_expiry(marketplace_id, document_expiry)
        query = query.filter(company_id__in=sorted(companies))
    page = await keyset_page(
        query.select_related("company", "marketplace"),
        first=first,
        after=after,
        last=last,
        before=before,
    )
    return page


def _ids(rows: Iterable[Any]) -> list[int]:
    return sorted({int(r) for r in rows})


async def _companies_with_expiry(marketplace_id: int, expiry: DocumentExpiry) -> set[int]:
    """Companies whose latest document of some type expired, or expires within 30 days."""
    rows = await Document.filter(
        kind=DocumentKind.COMPANY,
        deleted_at__isnull=True,
        expires_on__isnull=False,
        company__memberships__marketplace_id=marketplace_id,
    ).values_list("company_id", "document_type_id", "expires_on")
    latest: dict[tuple[int, int], date] = {}
    for company_id, type_id, expires_on in rows:
        key = (int(company_id), int(type_id or 0))
        if key not in latest or expires_on > latest[key]:
            latest[key] = expires_on
    today = clock.now().date()
    soon = today + timedelta(days=EXPIRING_SOON_DAYS)
    if expiry is DocumentExpiry.EXPIRED:
        return {c for (c, _), d in latest.items() if d <= today}
    return {c for (c, _), d in latest.items() if today < d <= soon}


async def provider_counts(actor: Actor) -> dict[MembershipStatus, int]:
    """Staff: how many providers the marketplace has in each status."""
    marketplace_id = actor.require_reader()
    rows = (
        await Membership.filter(marketplace_id=marketplace_id)
        .annotate(n=Count("id"))
        .group_by("status")
        .values_list("status", "n")
    )
    counts = dict.fromkeys(MembershipStatus, 0)
    for status, n in rows:
        counts[MembershipStatus(status)] = int(n)
    return counts


async def must_accept_terms(membership: Membership) -> bool:
    """True while a published terms version is newer than the one the provider accepted."""
    current = await current_terms_version(membership.marketplace_id)
    return _behind(membership, current)


async def terms_to_accept(actor: Actor, files: list[Membership]) -> dict[int, bool]:
    """``must_accept_terms`` of several files the actor may read, in one statement."""
    marketplaces = sorted({m.marketplace_id for m in files})
    current = await current_terms_numbers(actor, marketplaces)
    return {m.id: _behind(m, current.get(m.marketplace_id)) for m in files}


def _behind(membership: Membership, current: int | None) -> bool:
    return current is not None and (membership.terms_version_accepted or 0) < current


async def memberships_by_id(actor: Actor, ids: list[int]) -> dict[int, Membership]:
    """Files, with their company and marketplace, named by rows the actor may read (a
    conversation, a visit): what those rows show of them is theirs to decide."""
    rows = await where_in(Membership, "id", padded(ids), related=("company", "marketplace"))
    return {m.id: m for m in rows}


async def audits_of(actor: Actor, files: list[Membership]) -> dict[int, list[MembershipAudit]]:
    """The status changes of each file, oldest first: staff and partners of its marketplace
    only (absent for anyone else)."""
    allowed = [m.id for m in files if actor.sees_whole_marketplace and can_see(actor, m)]
    if not allowed:
        return {}
    grouped: dict[int, list[MembershipAudit]] = {m: [] for m in allowed}
    rows = MembershipAudit.filter(membership_id__in=padded(allowed)).select_related("actor")
    for a in await rows.order_by("id"):
        grouped[a.membership_id].append(a)
    return grouped


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# A ``Membership`` row reaches these reads only through a root that selects files the actor
# opens (``sees_file``): the providers list (staff and partners, DELETED excluded) and the
# provider's own files in the acting marketplace. The fields that the standard executor
# refuses or hides for other viewers (services, document state) are therefore read whole.


def _acting_marketplace(b: compiled.Builder, _s: compiled.Selected) -> dict[str, str]:
    return {"m": b.param(lambda inputs: inputs.actor.marketplace_id, "bigint")}


def _marketplace_name(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    mk = b.alias()
    return f"(SELECT {mk}.name FROM marketplace {mk} WHERE {mk}.id = {alias}.marketplace_id)"


def _provider_counts(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    marketplace = _acting_marketplace(b, s)["m"]
    counts = ", ".join(
        f"count(*) FILTER (WHERE m.status = '{status.value}') AS {status.value.lower()}"
        for status in MembershipStatus
    )
    total = f"count(*) FILTER (WHERE m.status <> '{S.DELETED.value}') AS total"
    row = b.alias()
    body = b.object("ProviderCounts", row, s.selection_set)
    return (
        f"(SELECT {body} FROM (SELECT {counts}, {total} FROM membership m "
        f"WHERE m.marketplace_id = {marketplace}) {row})"
    )


compiled.declare_type(
    "ProviderCompany",
    {
        "id": compiled.node_id("ProviderCompany"),
        "name": compiled.column("{t}.name"),
        "siret": compiled.column("{t}.siret"),
        "email": compiled.column("{t}.email"),
        "phone": compiled.column("{t}.phone"),
    },
)
compiled.declare_type(
    "Membership",
    {
        "id": compiled.node_id("Membership"),
        "status": compiled.column("{t}.status"),
        "company": compiled.one(
            "ProviderCompany", "FROM provider_company {c} WHERE {c}.id = {t}.company_id"
        ),
        "marketplaceId": compiled.node_id("Marketplace", "{t}.marketplace_id"),
        "marketplaceName": _marketplace_name,
        "termsVersionAccepted": compiled.column("{t}.terms_version_accepted"),
        "appliedAt": compiled.column("{t}.applied_at", "datetime"),
        "decidedAt": compiled.column("{t}.decided_at", "datetime"),
        "createdAt": compiled.column("{t}.created_at", "datetime"),
    },
)
compiled.declare_type(
    "ProviderCounts",
    {
        **{s.value.lower(): compiled.column(f"{{t}}.{s.value.lower()}") for s in MembershipStatus},
        "total": compiled.column("{t}.total"),
    },
)
compiled.declare_root(
    "providers",
    compiled.readers_only(
        compiled.keyset_connection(
            "Membership",
            "FROM membership {c} WHERE {seen}",
            max_size=lambda: settings().max_page_size,
            decode_cursor=lambda value: decode_cursor(value, field="after"),
            extra=lambda b, _s: {"seen": condition(SEES_FILE, b, "{c}")},
            allowed=("first", "after"),
        )
    ),
)
compiled.declare_root("providerCounts", compiled.readers_only(_provider_counts))


def _my_files(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    # Without an acting marketplace the files of other marketplaces refuse their tabs: the
    # standard executor says so.
    if not (b.kind.user and b.kind.in_marketplace):
        raise compiled.Fallback("files of every marketplace")
    company = b.param(lambda i: i.actor.company_id, "bigint")
    marketplace = b.param(lambda i: i.actor.marketplace_id, "bigint")
    m = b.alias()
    body = b.object("Membership", m, s.selection_set)
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {m}.id) FROM membership {m} "
        f"WHERE {m}.company_id = {company} AND {m}.status <> '{S.DELETED.value}' "
        f"AND {m}.marketplace_id = {marketplace}), '[]'::json)"
    )


def _must_accept_terms(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    v = b.alias()
    current = (
        f"(SELECT max({v}.number) FROM terms_version {v} "
        f"WHERE {v}.marketplace_id = {alias}.marketplace_id)"
    )
    return f"COALESCE({current} > COALESCE({alias}.terms_version_accepted, 0), false)"


compiled.declare_root("myMemberships", _my_files)


def _opens_tabs(inputs: compiled.Inputs, pk: int) -> None:
    # A file the actor sees but whose tabs it may not read (another file of its company)
    # gives errors in its tabs: the standard executor gives them.
    if not inputs.actor.sees_tab_of(pk):
        raise compiled.Fallback("tabs of a file the actor does not open")


compiled.declare_node(
    "Membership", compiled.NodeRead(visible_row("membership", CAN_SEE), _opens_tabs)
)
compiled.declare_type("Membership", {"mustAcceptTerms": _must_accept_terms})
