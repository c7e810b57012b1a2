"""Reading visits: who sees one (``SEES_INTERVENTION``, written once for the use cases and
the compiled path), the Interventions list and tab, and their compiled reading (the list,
a provider's tab, ``node(id:)``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from tortoise.queryset import QuerySet

from models.intervention import Intervention, InterventionStatus
from presta.settings import settings
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.compiled import rules
from resolvers.compiled.rules import Flag, Same, all_of, any_of, condition, visible_row
from resolvers.compiled.sql import as_day, as_text, given, id_of
from resolvers.dispatch.listing import visible_request
from resolvers.membership import require_tab
from resolvers.pagination import Page, Paging, decode_cursor, keyset_page

# Who sees a visit, written once for the use cases (``rules.where``) and the compiled path
# (``rules.condition``): in the acting marketplace, staff and partners every one, the
# provider and the client theirs.
SEES_INTERVENTION = all_of(
    Same("marketplace_id", "marketplace_id"),
    any_of(
        Flag("sees_whole_marketplace"),
        Same("membership_id", "membership_id"),
        Same("client_id", "client_id"),
    ),
)


def interventions_visible_to(actor: Actor) -> QuerySet[Intervention]:
    return rules.where(Intervention.all(), SEES_INTERVENTION, actor)


async def visible_interventions(actor: Actor, ids: list[int]) -> list[Intervention]:
    return await interventions_visible_to(actor).filter(id__in=ids)


@dataclass(frozen=True, slots=True)
class InterventionFilter:
    status: InterventionStatus | None = None
    membership_id: int | None = None
    client_id: int | None = None
    request_id: int | None = None
    starts_from: date | None = None
    starts_before: date | None = None


async def list_interventions(
    actor: Actor,
    f: InterventionFilter,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Intervention]:
    """Staff see the marketplace's visits, providers theirs, clients theirs."""
    marketplace_id = actor.require_marketplace()
    page = Paging(first=first, after=after, last=last, before=before)
    whole = actor.sees_tab_of(f.membership_id)
    # Who reads a provider's tab whole sees all its visits: the filter says it all.
    query = (
        Intervention.filter(marketplace_id=marketplace_id)
        if whole
        else interventions_visible_to(actor)
    )
    if f.status is not None:
        query = query.filter(status=f.status)
    if f.membership_id is not None:
        query = query.filter(membership_id=f.membership_id)
    if f.client_id is not None:
        query = query.filter(client_id=f.client_id)
    if f.request_id is not None:
        query = query.filter(request_id=f.request_id)
    if f.starts_from is not None:
        query = query.filter(starts_at__gte=datetime.combine(f.starts_from, time(), UTC))
    if f.starts_before is not None:
        query = query.filter(starts_at__lt=datetime.combine(f.starts_before, time(), UTC))
    if whole and f == InterventionFilter(membership_id=f.membership_id):
        # The whole tab: every provider app asks for it on opening, so its SQL is built once
        # (presta.statements).
        tab = [marketplace_id, f.membership_id]
        return await keyset_page(query, **page, shape="visits tab", params=tab)
    return await keyset_page(query, **page)


async def interventions_tab(
    actor: Actor,
    membership_id: int,
    *,
    starts_from: date | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[Intervention]:
    """A provider's Interventions tab, its visits for the marketplace's clients: for its
    marketplace's staff and partners, and the provider itself (``require_tab``)."""
    require_tab(actor, membership_id)
    f = InterventionFilter(membership_id=membership_id, starts_from=starts_from)
    return await list_interventions(actor, f, first=first, after=after)


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# A provider's Interventions tab (``interventions_tab``) read from a file its reader opens
# whole: every visit of that provider in the file's marketplace, from a day (UTC) if given.


def _starts_from(b: compiled.Builder, s: compiled.Selected) -> dict[str, str]:
    day = b.param(b.argument(s.node, "startsFrom"), "date")
    return {
        "starts_from": f"({day} IS NULL OR {{c}}.starts_at >= {day}::timestamp AT TIME ZONE 'UTC')"
    }


def _company_name(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    m, c = b.alias(), b.alias()
    return (
        f"(SELECT {c}.name FROM membership {m} JOIN provider_company {c} "
        f"ON {c}.id = {m}.company_id WHERE {m}.id = {alias}.membership_id)"
    )


compiled.declare_type(
    "Intervention",
    {
        "id": compiled.node_id("Intervention"),
        "status": compiled.column("{t}.status"),
        "startsAt": compiled.column("{t}.starts_at", "datetime"),
        "endsAt": compiled.column("{t}.ends_at", "datetime"),
        "price": compiled.column("{t}.price", "decimal"),
        "commissionRate": compiled.column("{t}.commission_rate", "decimal"),
        "occurrence": compiled.column("{t}.occurrence"),
        "seriesKey": compiled.column("{t}.series_key"),
        "cancelReason": compiled.column("{t}.cancel_reason"),
        "startedAt": compiled.column("{t}.started_at", "datetime"),
        "completedAt": compiled.column("{t}.completed_at", "datetime"),
        "cancelledAt": compiled.column("{t}.cancelled_at", "datetime"),
        "providerId": compiled.node_id("Membership", "{t}.membership_id"),
        "clientId": compiled.node_id("Client", "{t}.client_id"),
        "createdAt": compiled.column("{t}.created_at", "datetime"),
        "service": compiled.one("Service", "FROM service {c} WHERE {c}.id = {t}.service_id"),
        "companyName": _company_name,
    },
)
compiled.declare_type(
    "Membership",
    {
        "interventions": compiled.keyset_connection(
            "Intervention",
            "FROM intervention {c} WHERE {c}.marketplace_id = {t}.marketplace_id "
            "AND {c}.membership_id = {t}.id AND {starts_from}",
            max_size=lambda: settings().max_page_size,
            decode_cursor=lambda value: decode_cursor(value, field="after"),
            extra=_starts_from,
            allowed=("first", "after", "startsFrom"),
        )
    },
)


# ``interventions`` for an actor acting in a marketplace: the visits ``SEES_INTERVENTION``
# lets it see, filtered as ``list_interventions`` filters them (who reads a provider's tab
# whole sees no more there than the rule lets it see).


def _filters(b: compiled.Builder, s: compiled.Selected) -> dict[str, str]:
    if not (b.kind.authenticated and b.kind.in_marketplace):
        raise compiled.Fallback("no acting marketplace: the use case refuses it")
    status = b.param(given(b, s, "status", as_text), "text")
    provider = b.param(given(b, s, "providerId", id_of("Membership")), "bigint")
    request = b.param(given(b, s, "requestId", id_of("ServiceRequest")), "bigint")
    since = b.param(given(b, s, "startsFrom", as_day), "date")
    before = b.param(given(b, s, "startsBefore", as_day), "date")
    return {
        "visible": condition(SEES_INTERVENTION, b, "{c}"),
        "filters": (
            f"({status} IS NULL OR {{c}}.status = {status}) "
            f"AND ({provider} IS NULL OR {{c}}.membership_id = {provider}) "
            f"AND ({request} IS NULL OR {{c}}.request_id = {request}) "
            f"AND ({since} IS NULL OR {{c}}.starts_at >= {since}::timestamp AT TIME ZONE 'UTC') "
            f"AND ({before} IS NULL OR {{c}}.starts_at < {before}::timestamp AT TIME ZONE 'UTC')"
        ),
    }


compiled.declare_root(
    "interventions",
    compiled.keyset_connection(
        "Intervention",
        "FROM intervention {c} WHERE {visible} AND {filters}",
        max_size=lambda: settings().max_page_size,
        decode_cursor=lambda value: decode_cursor(value, field="after"),
        extra=_filters,
        allowed=(
            "first",
            "after",
            "status",
            "providerId",
            "requestId",
            "startsFrom",
            "startsBefore",
        ),
    ),
)


compiled.declare_node(
    "Intervention", compiled.NodeRead(visible_row("intervention", SEES_INTERVENTION))
)
compiled.declare_type("Intervention", {"serviceRequest": visible_request})
