"""The requests list: its filter, read by the use case (``request.list_service_requests``) as
a tortoise filter and by the compiled path as SQL, side by side; and the compiled reading of
requests, dispatches and proposals wherever a document reaches them (the list, ``node(id:)``,
a dispatch's request), each under the rule of ``resolvers.dispatch.core`` that the loaders of
``resolvers.dispatch.reads`` apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.queryset import QuerySet

from models.catalog import ProviderServiceStatus
from models.dispatch import DispatchStatus, RequestStatus, ServiceRequest
from presta.settings import settings
from resolvers import compiled
from resolvers.compiled.rules import condition, visible_row
from resolvers.compiled.sql import as_day, as_text, day_after, given, id_of
from resolvers.dispatch.core import SEES_DISPATCH, SEES_REQUEST, SEES_WHOLE_REQUEST, SHOWS_DISPATCH
from resolvers.pagination import decode_cursor


@dataclass(frozen=True, slots=True)
class RequestFilter:
    status: RequestStatus | None = None
    service_id: int | None = None
    postal_code: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    membership_id: int | None = None
    client_id: int | None = None


def filtered(query: QuerySet[ServiceRequest], f: RequestFilter) -> QuerySet[ServiceRequest]:
    """``query`` narrowed by the filter (``_filters`` is the same in SQL)."""
    if f.status is not None:
        query = query.filter(status=f.status)
    if f.service_id is not None:
        query = query.filter(service_id=f.service_id)
    if f.postal_code:
        query = query.filter(postal_code__startswith=f.postal_code.strip())
    if f.created_from is not None:
        query = query.filter(created_at__gte=datetime.combine(f.created_from, time(), UTC))
    if f.created_to is not None:
        end = datetime.combine(f.created_to + timedelta(days=1), time(), UTC)
        query = query.filter(created_at__lt=end)
    if f.membership_id is not None:
        query = query.filter(dispatches__membership_id=f.membership_id)
    if f.client_id is not None:
        query = query.filter(client_id=f.client_id)
    return query


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# ``serviceRequests`` for an actor acting in a marketplace: the requests ``SEES_REQUEST`` lets
# it see, filtered as ``filtered`` filters them. An argument whose value the use case would
# refuse (an id of another type, a day past the calendar) is left to it (``Fallback``).


def _prefix(value: Any) -> str | None:
    """``if f.postal_code``: an empty one filters nothing; it is stripped."""
    text = as_text(value)
    return text.strip() if text else None


def _filters(b: compiled.Builder, s: compiled.Selected) -> dict[str, str]:
    if not (b.kind.authenticated and b.kind.in_marketplace):
        raise compiled.Fallback("no acting marketplace: the use case refuses it")
    status = b.param(given(b, s, "status", as_text), "text")
    service = b.param(given(b, s, "serviceId", id_of("Service")), "bigint")
    prefix = b.param(given(b, s, "postalCode", _prefix), "text")
    since = b.param(given(b, s, "createdFrom", as_day), "date")
    until = b.param(given(b, s, "createdTo", day_after), "date")
    return {
        "visible": condition(SEES_REQUEST, b, "{c}"),
        "filters": (
            f"({status} IS NULL OR {{c}}.status = {status}) "
            f"AND ({service} IS NULL OR {{c}}.service_id = {service}) "
            f"AND ({prefix} IS NULL OR starts_with({{c}}.postal_code, {prefix})) "
            f"AND ({since} IS NULL OR {{c}}.created_at >= {since}::timestamp AT TIME ZONE 'UTC') "
            f"AND ({until} IS NULL OR {{c}}.created_at < {until}::timestamp AT TIME ZONE 'UTC')"
        ),
    }


compiled.declare_root(
    "serviceRequests",
    compiled.keyset_connection(
        "ServiceRequest",
        "FROM service_request {c} WHERE {visible} AND {filters}",
        max_size=lambda: settings().max_page_size,
        decode_cursor=lambda value: decode_cursor(value, field="after"),
        extra=_filters,
        allowed=("first", "after", "status", "serviceId", "postalCode", "createdFrom", "createdTo"),
    ),
)


compiled.declare_node(
    "ServiceRequest", compiled.NodeRead(visible_row("service_request", SEES_REQUEST))
)
compiled.declare_node("Dispatch", compiled.NodeRead(visible_row("dispatch", SEES_DISPATCH)))


def _dispatches(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    """``dispatches_of``: every dispatch to staff and partners, its own to a provider."""
    d = b.alias()
    body = b.object("Dispatch", d, s.selection_set)
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {d}.id) FROM dispatch {d} "
        f"WHERE {d}.request_id = {alias}.id AND {condition(SHOWS_DISPATCH, b, d)}), '[]'::json)"
    )


def visible_request(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    """The request the row ``alias`` comes from (a dispatch's, a visit's), if the actor sees
    it (``VisibleRequestLoader``)."""
    r = b.alias()
    body = b.object("ServiceRequest", r, s.selection_set)
    return (
        f"(SELECT {body} FROM service_request {r} "
        f"WHERE {r}.id = {alias}.request_id AND {condition(SEES_REQUEST, b, r)})"
    )


def _proposal(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    """``proposals_of``: for those who see the request whole (``SEES_WHOLE_REQUEST``)."""
    p = b.alias()
    body = b.object("Proposal", p, s.selection_set)
    found = f"(SELECT {body} FROM proposal {p} WHERE {p}.request_id = {alias}.id)"
    return f"CASE WHEN {condition(SEES_WHOLE_REQUEST, b, alias)} THEN {found} END"


def _proposed(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    """The providers who joined the proposal and did not decline since, as they joined; each
    row carries the proposal's sending time (``late``)."""
    d, e = b.alias(), b.alias()
    body = b.object("ProposedProvider", e, s.selection_set)
    rows = (
        f"SELECT {d}.*, {alias}.sent_at AS proposal_sent_at FROM dispatch {d} "
        f"WHERE {d}.request_id = {alias}.request_id AND {d}.proposed_at IS NOT NULL "
        f"AND {d}.status <> '{DispatchStatus.DECLINED.value}'"
    )
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {e}.proposed_at, {e}.id) "
        f"FROM ({rows}) {e}), '[]'::json)"
    )


def _company_name(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    m, c = b.alias(), b.alias()
    return (
        f"(SELECT {c}.name FROM membership {m} JOIN provider_company {c} "
        f"ON {c}.id = {m}.company_id WHERE {m}.id = {alias}.membership_id)"
    )


def _services(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    """The names of the services the provider is accepted for, by name."""
    p, v = b.alias(), b.alias()
    return (
        f"COALESCE((SELECT json_agg({v}.name ORDER BY {v}.name) FROM provider_service {p} "
        f"JOIN service {v} ON {v}.id = {p}.service_id WHERE {p}.membership_id = "
        f"{alias}.membership_id AND {p}.status = '{ProviderServiceStatus.ACCEPTED.value}'), "
        f"'[]'::json)"
    )


compiled.declare_type(
    "ServiceRequest",
    {
        "latitude": compiled.column("{t}.latitude"),
        "longitude": compiled.column("{t}.longitude"),
        "rounds": compiled.many(
            "RequestRound", "FROM request_round {c} WHERE {c}.request_id = {t}.id", "{c}.number"
        ),
        "dispatches": _dispatches,
        "proposal": _proposal,
    },
)
compiled.declare_type(
    "RequestRound",
    {
        "number": compiled.column("{t}.number"),
        "providersAsked": compiled.column("{t}.providers_asked"),
        "startedAt": compiled.column("{t}.started_at", "datetime"),
    },
)
compiled.declare_type("Dispatch", {"request": visible_request})
compiled.declare_type(
    "Proposal",
    {
        "sentAt": compiled.column("{t}.sent_at", "datetime"),
        "trigger": compiled.column("{t}.trigger"),
        "acceptedAt": compiled.column("{t}.accepted_at", "datetime"),
        "providers": _proposed,
    },
)
compiled.declare_type(
    "ProposedProvider",
    {
        "providerId": compiled.node_id("Membership", "{t}.membership_id"),
        "companyName": _company_name,
        "services": _services,
        "message": compiled.column("{t}.message"),
        "price": compiled.column("{t}.price", "decimal"),
        "joinedAt": compiled.column("{t}.proposed_at", "datetime"),
        "late": compiled.column("({t}.proposed_at > {t}.proposal_sent_at)"),
        "status": compiled.column("{t}.status"),
    },
)
