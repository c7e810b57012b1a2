"""What a page of requests shows of each one: its client, rounds, dispatches with their
answers, and proposal. Each is read for the whole page in one statement, as the actor may see
it (``resolvers.dispatch.core``: who sees a request, a dispatch, a client, a proposal)."""

from __future__ import annotations

from collections import defaultdict

from models.account import Client
from models.catalog import ProviderService, ProviderServiceStatus
from models.dispatch import (
    Dispatch,
    DispatchAnswerAudit,
    DispatchStatus,
    Proposal,
    RequestRound,
    ServiceRequest,
)
from presta.db import padded
from presta.settings import settings
from presta.statements import select, where_in
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.compiled import rules
from resolvers.dispatch.core import (
    OWN_DISPATCH,
    SHOWS_CLIENT,
    dispatches_seen_by,
    sees_whole_request,
    shows_client,
    visible_requests,
)
from resolvers.pagination import decode_cursor


async def requests_by_id(actor: Actor, ids: list[int]) -> dict[int, ServiceRequest]:
    """Requests by id, those the actor may see (``requests_visible_to``)."""
    return {r.id: r for r in await visible_requests(actor, padded(ids))}


async def clients_of(actor: Actor, requests: list[ServiceRequest]) -> dict[int, Client]:
    """The client of each request, by request id, where the actor is shown it
    (``shows_client``)."""
    shown = [r for r in requests if shows_client(actor, r)]
    if not shown:
        return {}
    ids = padded(sorted({r.client_id for r in shown}))
    clients = {c.id: c for c in await where_in(Client, "id", ids)}
    return {r.id: clients[r.client_id] for r in shown if r.client_id in clients}


async def rounds_of(actor: Actor, request_ids: list[int]) -> dict[int, list[RequestRound]]:
    """The rounds of requests the actor may see, first first."""
    grouped: dict[int, list[RequestRound]] = defaultdict(list)
    for r in await where_in(RequestRound, "request_id", padded(request_ids), order=("number",)):
        grouped[r.request_id].append(r)
    return grouped


async def dispatches_of(actor: Actor, request_ids: list[int]) -> dict[int, list[Dispatch]]:
    """The dispatches of requests the actor may see, as it may see them
    (``dispatches_seen_by``), oldest first."""
    seen = dispatches_seen_by(actor, Dispatch.filter(request_id__in=padded(request_ids)))
    grouped: dict[int, list[Dispatch]] = defaultdict(list)
    if seen is not None:
        for d in await seen.order_by("id"):
            grouped[d.request_id].append(d)
    return grouped


async def my_dispatches(actor: Actor, request_ids: list[int]) -> dict[int, Dispatch]:
    """The acting provider's own dispatch of each request (``OWN_DISPATCH``; none for anyone
    else)."""
    mine = actor.membership_id
    if rules.q(OWN_DISPATCH, actor) is False:
        return {}
    keys = padded(request_ids)
    rows = await select(
        "my dispatches",
        [*keys, mine],
        lambda: rules.where(Dispatch.filter(request_id__in=keys), OWN_DISPATCH, actor),
    )
    return {d.request_id: d for d in rows}


async def answers_of(actor: Actor, dispatch_ids: list[int]) -> dict[int, list[DispatchAnswerAudit]]:
    """The answer history of dispatches the actor may see, oldest first."""
    grouped: dict[int, list[DispatchAnswerAudit]] = defaultdict(list)
    keys = padded(dispatch_ids)
    for a in await where_in(DispatchAnswerAudit, "dispatch_id", keys, order=("id",)):
        grouped[a.dispatch_id].append(a)
    return grouped


# A proposal, its providers in the order they joined it, and the services each is accepted for.
ProposalEntries = tuple[Proposal, list[Dispatch], dict[int, list[str]]]


async def proposals_of(actor: Actor, requests: list[ServiceRequest]) -> dict[int, ProposalEntries]:
    """The proposal of each request, by request id, for those who see it whole
    (``sees_whole_request``: its client, the marketplace's staff and partners)."""
    whole = [r.id for r in requests if sees_whole_request(actor, r)]
    if not whole:
        return {}
    found = await Proposal.filter(request_id__in=padded(whole))
    proposals = {p.request_id: p for p in found}
    if not proposals:
        return {}
    entries: dict[int, list[Dispatch]] = defaultdict(list)
    rows = (
        Dispatch.filter(request_id__in=list(proposals), proposed_at__not_isnull=True)
        .exclude(status=DispatchStatus.DECLINED)
        .select_related("membership__company")
    )
    for d in await rows.order_by("proposed_at", "id"):
        entries[d.request_id].append(d)
    members = {d.membership_id for ds in entries.values() for d in ds}
    services: dict[int, list[str]] = defaultdict(list)
    if members:
        accepted = ProviderService.filter(
            membership_id__in=members, status=ProviderServiceStatus.ACCEPTED
        ).select_related("service")
        for r in await accepted.order_by("service__name"):
            services[r.membership_id].append(r.service.name)
    return {
        request_id: (proposal, entries[request_id], services)
        for request_id, proposal in proposals.items()
    }


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# A provider's Requests tab (``requests_tab``) read from a file its reader opens whole
# (``Membership`` rows reach here only so): every request sent to that provider. The client
# is shown as ``shows_client`` shows it; ``myDispatch`` is the acting provider's own.


def _shown_client(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    c = b.alias()
    body = b.object("RequestClient", c, s.selection_set)
    found = f"(SELECT {body} FROM account_client {c} WHERE {c}.id = {alias}.client_id)"
    return f"CASE WHEN {rules.condition(SHOWS_CLIENT, b, alias)} THEN {found} END"


def _my_dispatch(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    if rules.fold(OWN_DISPATCH, b.kind) is False:
        return "NULL::json"
    d = b.alias()
    body = b.object("Dispatch", d, s.selection_set)
    return (
        f"(SELECT {body} FROM dispatch {d} WHERE {d}.request_id = {alias}.id "
        f"AND {rules.condition(OWN_DISPATCH, b, d)})"
    )


compiled.declare_type(
    "ServiceRequest",
    {
        "id": compiled.node_id("ServiceRequest"),
        "status": compiled.column("{t}.status"),
        "postalCode": compiled.column("{t}.postal_code"),
        "city": compiled.column("{t}.city"),
        "addressLine": compiled.column("{t}.address_line"),
        "description": compiled.column("{t}.description"),
        "wishedStart": compiled.column("{t}.wished_start", "datetime"),
        "frequency": compiled.column("{t}.frequency"),
        "durationMinutes": compiled.column("{t}.duration_minutes"),
        "round": compiled.column("{t}.round"),
        "sendProposalAt": compiled.column("{t}.send_proposal_at", "datetime"),
        "remindAt": compiled.column("{t}.remind_at", "datetime"),
        "cancelReason": compiled.column("{t}.cancel_reason"),
        "closedAt": compiled.column("{t}.closed_at", "datetime"),
        "recurring": compiled.column("({t}.frequency IS NOT NULL)"),
        "service": compiled.one("Service", "FROM service {c} WHERE {c}.id = {t}.service_id"),
        "client": _shown_client,
        "myDispatch": _my_dispatch,
        "createdAt": compiled.column("{t}.created_at", "datetime"),
    },
)
compiled.declare_type(
    "RequestClient",
    {
        "id": compiled.node_id("Client"),
        "fullName": compiled.column("{t}.full_name"),
        "email": compiled.column("{t}.email"),
        "phone": compiled.column("{t}.phone"),
    },
)
compiled.declare_type(
    "Dispatch",
    {
        "id": compiled.node_id("Dispatch"),
        "providerId": compiled.node_id("Membership", "{t}.membership_id"),
        "round": compiled.column("{t}.round"),
        "status": compiled.column("{t}.status"),
        "message": compiled.column("{t}.message"),
        "price": compiled.column("{t}.price", "decimal"),
        "answeredAt": compiled.column("{t}.answered_at", "datetime"),
        "proposedAt": compiled.column("{t}.proposed_at", "datetime"),
        "createdAt": compiled.column("{t}.created_at", "datetime"),
        "answerHistory": compiled.many(
            "DispatchAnswer",
            "FROM dispatch_answer_audit {c} WHERE {c}.dispatch_id = {t}.id",
            "{c}.id",
        ),
    },
)
compiled.declare_type(
    "DispatchAnswer",
    {
        "fromStatus": compiled.column("{t}.from_status"),
        "toStatus": compiled.column("{t}.to_status"),
        "message": compiled.column("{t}.message"),
        "price": compiled.column("{t}.price", "decimal"),
        "round": compiled.column("{t}.round"),
        "createdAt": compiled.column("{t}.created_at", "datetime"),
    },
)
compiled.declare_type(
    "Membership",
    {
        "requests": compiled.keyset_connection(
            "ServiceRequest",
            "FROM service_request {c} WHERE {c}.marketplace_id = {t}.marketplace_id "
            "AND EXISTS (SELECT 1 FROM dispatch tab WHERE tab.request_id = {c}.id "
            "AND tab.membership_id = {t}.id)",
            max_size=lambda: settings().max_page_size,
            decode_cursor=lambda value: decode_cursor(value, field="after"),
        )
    },
)
