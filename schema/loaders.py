"""Per-operation DataLoaders: one statement per list level, whatever the number of rows.

Each loader fetches the rows behind one relation for every object of a list at once, and
applies the same visibility rule as the single-object path it replaces. Loaders live for one
operation (``FreshLoaders``); in a subscription they do not cache, since one operation lasts
as long as the subscription and the rows change between events.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from datetime import date
from typing import Any, Generic, TypeVar

from graphql import OperationType
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.types.nodes import SelectedField

from models.account import Client
from models.catalog import ProviderService, ProviderServiceStatus, Service
from models.commission import CommissionRate
from models.consent import ConsentState
from models.dispatch import (
    Dispatch,
    DispatchAnswerAudit,
    DispatchStatus,
    Proposal,
    RequestRound,
    ServiceRequest,
)
from models.document import Document, DocumentKind, RequiredDocumentType
from models.membership import Membership, MembershipAudit, MembershipStatus
from models.terms import TermsVersion
from presta import clock
from presta.db import padded
from presta.statements import select, where_in
from resolvers.actor import Actor
from resolvers.dispatch.core import visible_requests
from resolvers.document import DocumentState, state_of
from resolvers.errors import AuthError, not_found
from resolvers.membership import can_see
from schema.context import Info, operation_loaders

K = TypeVar("K")
V = TypeVar("V")
L = TypeVar("L", bound="_Loader[Any, Any]")


class FreshLoaders(SchemaExtension):
    """A new set of loaders for every operation, HTTP or websocket."""

    def on_operation(self) -> Iterator[None]:
        operation_loaders.set({})
        yield
        operation_loaders.set(None)


class _Loader(DataLoader[K, V], Generic[K, V]):
    """Batches keys, dedupes them, and gives ``missing`` for keys without a row."""

    missing: Any = None

    def __init__(self, actor: Actor, *, cache: bool) -> None:
        self.actor = actor
        # DataLoader keeps ``load_fn``: given as a bound method, the loader would hold itself,
        # and with its futures and rows wait for the cyclic collector after each operation.
        me = weakref.proxy(self)
        super().__init__(load_fn=lambda keys: me._load(keys), cache=cache, cache_key_fn=self.key_of)

    @staticmethod
    def key_of(key: Any) -> Hashable:
        return key  # type: ignore[no-any-return]

    async def _load(self, keys: list[K]) -> list[V]:
        unique = list({self.key_of(k): k for k in keys}.values())
        found = await self.fetch(padded(unique))
        return [found.get(self.key_of(k), self.missing) for k in keys]

    async def fetch(self, keys: list[K]) -> dict[Hashable, V]:
        raise NotImplementedError


# The fields a query asks of some objects, by name, each with what it asks in turn.
Asked = dict[str, "Asked"]


def asked_of_nodes(info: Info) -> Asked:
    """What the query asks of the items of the connection being resolved (under ``nodes``
    and ``edges { node }``, fragments included)."""
    connection: Asked = {}
    for field in info.selected_fields:
        _merge(connection, _asked(field.selections))
    nodes: Asked = {}
    _merge(nodes, connection.get("nodes", {}))
    _merge(nodes, connection.get("edges", {}).get("node", {}))
    return nodes


def _asked(selections: list[Any]) -> Asked:
    tree: Asked = {}
    for selection in selections:
        if isinstance(selection, SelectedField):
            _merge(tree.setdefault(selection.name, {}), _asked(selection.selections))
        else:  # a fragment: its fields are asked of the same object
            _merge(tree, _asked(selection.selections))
    return tree


def _merge(into: Asked, other: Asked) -> None:
    for name, sub in other.items():
        _merge(into.setdefault(name, {}), sub)


async def prime(*loads: Awaitable[Any]) -> None:
    """Wait for loads started ahead of the fields that read them, so those fields find their
    rows loaded and resolve at once (``schema.fast``). A failed load is left for its field to
    report, as it would have without priming."""
    if loads:
        await asyncio.gather(*loads, return_exceptions=True)


# A load ahead: given the rows of a page and what is asked of the field it serves.
LoadAhead = Callable[[list[Any], Asked], Awaitable[Any]]


async def prime_fields(info: Info, rows: list[Any], loads: dict[str, LoadAhead]) -> None:
    """For each field of ``loads`` that the query asks of these rows (the items of the
    connection being resolved), start its load, then wait for them all (``prime``). Nothing
    to do for an empty page, or in a subscription, whose loaders keep nothing."""
    if not rows or not caches(info):
        return
    asked = asked_of_nodes(info)
    await prime(*(load(rows, asked[name]) for name, load in loads.items() if name in asked))


def caches(info: Info) -> bool:
    """Whether the operation's loaders keep what they load: not in a subscription, which
    lasts for all its events while the rows change."""
    return info.operation.operation is not OperationType.SUBSCRIPTION


def loader(info: Info, cls: type[L]) -> L:
    """The operation's loader of this class, for the operation's actor."""
    cache = caches(info)
    actor = info.context.actor
    found: L = info.context.loader(cls, lambda: cls(actor, cache=cache))
    return found


# --- catalogue ------------------------------------------------------------------------------


class ServiceByIdLoader(_Loader[int, Service]):
    """Services named by rows the actor was already allowed to read (requests, visits)."""

    async def fetch(self, keys: list[int]) -> dict[Hashable, Service]:
        return {s.id: s for s in await where_in(Service, "id", keys)}


def _sees_file(actor: Actor, m: Membership) -> bool:
    """Staff and partners of its marketplace, or the provider itself; never a DELETED file."""
    return (
        actor.marketplace_id == m.marketplace_id  # type: ignore[attr-defined]
        and m.status is not MembershipStatus.DELETED
        and (actor.sees_whole_marketplace or actor.membership_id == m.id)
    )


def _split(actor: Actor, keys: list[Membership]) -> tuple[list[Membership], dict[Hashable, Any]]:
    """The files the actor may open, and the error each other one resolves to."""
    allowed = [m for m in keys if _sees_file(actor, m)]
    denied: dict[Hashable, Any] = {}
    for m in keys:
        if not _sees_file(actor, m):
            try:
                actor.require_marketplace()
                denied[m.id] = not_found("Membership", field="membershipId")
            except AuthError as error:
                denied[m.id] = error
    return allowed, denied


ServiceLine = tuple[Service, ProviderService | None]
_BY_NAME = ("name", "id")


class MembershipServicesLoader(_Loader[Membership, list[ServiceLine]]):
    """The Services tab of several files: the catalogue once, the applications in one go."""

    @staticmethod
    def key_of(key: Membership) -> Hashable:
        return int(key.id)

    async def fetch(self, keys: list[Membership]) -> dict[Hashable, Any]:
        allowed, result = _split(self.actor, keys)
        if not allowed:
            return result
        marketplaces = {m.marketplace_id for m in allowed}  # type: ignore[attr-defined]
        catalogue: dict[int, list[Service]] = defaultdict(list)
        for s in await where_in(Service, "marketplace_id", list(marketplaces), order=_BY_NAME):
            catalogue[s.marketplace_id].append(s)  # type: ignore[attr-defined]
        applying = [m.id for m in allowed]
        applications: dict[tuple[int, int], ProviderService] = {
            (r.membership_id, r.service_id): r  # type: ignore[attr-defined]
            for r in await where_in(ProviderService, "membership_id", applying)
        }
        for m in allowed:
            result[m.id] = [
                (s, applications.get((m.id, s.id)))
                for s in catalogue[m.marketplace_id]  # type: ignore[attr-defined]
            ]
        return result


# --- membership -----------------------------------------------------------------------------


class CurrentTermsByMarketplaceLoader(_Loader[int, int]):
    """Number of the current terms-of-use version of each marketplace (absent: none)."""

    async def fetch(self, keys: list[int]) -> dict[Hashable, int]:
        latest: dict[Hashable, int] = {}
        versions = await select(
            "terms versions",
            keys,  # the text of the terms is not read: only their numbers
            lambda: TermsVersion.filter(marketplace_id__in=keys).only("marketplace_id", "number"),
        )
        for version in versions:
            marketplace_id = version.marketplace_id  # type: ignore[attr-defined]
            latest[marketplace_id] = max(version.number, latest.get(marketplace_id, 0))
        return latest


class MembershipByIdLoader(_Loader[int, Membership]):
    """Files (with company and marketplace) named by rows the actor was already allowed to read."""

    async def fetch(self, keys: list[int]) -> dict[Hashable, Membership]:
        rows = await where_in(Membership, "id", keys, related=("company", "marketplace"))
        return {m.id: m for m in rows}


class ConsentByMembershipLoader(_Loader[Membership, list[ConsentState]]):
    """The consent in force on each channel of several files (the GDPR tab)."""

    @staticmethod
    def key_of(key: Membership) -> Hashable:
        return int(key.id)

    async def fetch(self, keys: list[Membership]) -> dict[Hashable, Any]:
        allowed, result = _split(self.actor, keys)
        for m in allowed:
            result[m.id] = []
        if allowed:
            rows = ConsentState.filter(membership_id__in=[m.id for m in allowed])
            for state in await rows.select_related("record").order_by("id"):
                result[state.membership_id].append(state)  # type: ignore[attr-defined]
        return result


class AuditByMembershipLoader(_Loader[Membership, list[MembershipAudit]]):
    """Status changes of several files, oldest first; staff only (others get null)."""

    @staticmethod
    def key_of(key: Membership) -> Hashable:
        return int(key.id)

    async def fetch(self, keys: list[Membership]) -> dict[Hashable, list[MembershipAudit]]:
        actor = self.actor
        allowed = [m.id for m in keys if actor.sees_whole_marketplace and can_see(actor, m)]
        if not allowed:
            return {}
        grouped: dict[Hashable, list[MembershipAudit]] = {m: [] for m in allowed}
        rows = MembershipAudit.filter(membership_id__in=allowed).select_related("actor")
        for a in await rows.order_by("id"):
            grouped[a.membership_id].append(a)  # type: ignore[attr-defined]
        return grouped


class CommissionHistoryByMembershipLoader(_Loader[int, list[CommissionRate]]):
    """Every rate set for several providers, the latest first."""

    missing: Any = []

    async def fetch(self, keys: list[int]) -> dict[Hashable, list[CommissionRate]]:
        grouped: dict[Hashable, list[CommissionRate]] = defaultdict(list)
        order = ("-effective_from", "-id")
        for r in await where_in(CommissionRate, "membership_id", keys, order=order):
            grouped[r.membership_id].append(r)  # type: ignore[attr-defined]
        return grouped


class DocumentStateByMembershipLoader(_Loader[Membership, DocumentState]):
    """The worst state of a file's required company documents; null for other viewers."""

    @staticmethod
    def key_of(key: Membership) -> Hashable:
        return int(key.id)

    async def fetch(self, keys: list[Membership]) -> dict[Hashable, DocumentState]:
        allowed, _ = _split(self.actor, keys)
        if not allowed:
            return {}
        marketplaces = {m.marketplace_id for m in allowed}  # type: ignore[attr-defined]
        required: dict[int, set[int]] = defaultdict(set)
        for marketplace_id, type_id in await RequiredDocumentType.filter(
            marketplace_id__in=marketplaces
        ).values_list("marketplace_id", "document_type_id"):
            required[marketplace_id].add(type_id)
        wanted = set().union(*required.values()) if required else set()
        best: dict[tuple[int, int], Document] = {}
        if wanted:
            documents = await Document.filter(
                company_id__in={m.company_id for m in allowed},  # type: ignore[attr-defined]
                kind=DocumentKind.COMPANY,
                deleted_at__isnull=True,
                document_type_id__in=wanted,
            ).only("id", "company_id", "document_type_id", "expires_on")
            for d in documents:
                key = (d.company_id, d.document_type_id)  # type: ignore[attr-defined]
                if key not in best or _lasts_longer(d, best[key]):
                    best[key] = d
        today = clock.now().date()
        return {
            m.id: _worst(
                state_of(best.get((m.company_id, t)), today)  # type: ignore[attr-defined]
                for t in required[m.marketplace_id]  # type: ignore[attr-defined]
            )
            for m in allowed
        }


_SEVERITY = [
    DocumentState.VALID,
    DocumentState.EXPIRING_SOON,
    DocumentState.EXPIRED,
    DocumentState.MISSING,
]


def _worst(states: Iterator[DocumentState] | Any) -> DocumentState:
    return max(states, key=_SEVERITY.index, default=DocumentState.VALID)


def _lasts_longer(a: Document, b: Document) -> bool:
    """The document that keeps the type valid the longest (no end date beats any date)."""
    far = date.max

    def rank(d: Document) -> tuple[bool, date, int]:
        return (d.expires_on is None, d.expires_on or far, d.id)

    return rank(a) > rank(b)


# --- requests and answers -------------------------------------------------------------------


class ClientByIdLoader(_Loader[int, Client]):
    """Clients named by requests the actor was allowed to read (callers check the rest)."""

    async def fetch(self, keys: list[int]) -> dict[Hashable, Client]:
        return {c.id: c for c in await where_in(Client, "id", keys)}


class VisibleRequestLoader(_Loader[int, ServiceRequest]):
    """Requests by id, as the actor may see them (absent otherwise)."""

    async def fetch(self, keys: list[int]) -> dict[Hashable, ServiceRequest]:
        return {r.id: r for r in await visible_requests(self.actor, keys)}


class MyDispatchByRequestLoader(_Loader[int, Dispatch]):
    """The acting provider's own dispatch of each request."""

    async def fetch(self, keys: list[int]) -> dict[Hashable, Dispatch]:
        mine = self.actor.membership_id
        if mine is None:
            return {}
        rows = await select(
            "my dispatches",
            [*keys, mine],
            lambda: Dispatch.filter(request_id__in=keys, membership_id=mine),
        )
        return {d.request_id: d for d in rows}  # type: ignore[attr-defined]


class DispatchesByRequestLoader(_Loader[int, list[Dispatch]]):
    """Every dispatch of each request for readers of the marketplace; a provider, its own."""

    missing: Any = []

    async def fetch(self, keys: list[int]) -> dict[Hashable, list[Dispatch]]:
        actor = self.actor
        query = Dispatch.filter(request_id__in=keys)
        if not actor.sees_whole_marketplace:
            if actor.membership_id is None:
                return {}
            query = query.filter(membership_id=actor.membership_id)
        grouped: dict[Hashable, list[Dispatch]] = defaultdict(list)
        for d in await query.order_by("id"):
            grouped[d.request_id].append(d)  # type: ignore[attr-defined]
        return grouped


class AnswersByDispatchLoader(_Loader[int, list[DispatchAnswerAudit]]):
    """The answer history of dispatches the actor was allowed to read, oldest first."""

    missing: Any = []

    async def fetch(self, keys: list[int]) -> dict[Hashable, list[DispatchAnswerAudit]]:
        grouped: dict[Hashable, list[DispatchAnswerAudit]] = defaultdict(list)
        for a in await where_in(DispatchAnswerAudit, "dispatch_id", keys, order=("id",)):
            grouped[a.dispatch_id].append(a)  # type: ignore[attr-defined]
        return grouped


class RoundsByRequestLoader(_Loader[int, list[RequestRound]]):
    """The rounds of requests the actor was allowed to read, first first."""

    missing: Any = []

    async def fetch(self, keys: list[int]) -> dict[Hashable, list[RequestRound]]:
        grouped: dict[Hashable, list[RequestRound]] = defaultdict(list)
        for r in await where_in(RequestRound, "request_id", keys, order=("number",)):
            grouped[r.request_id].append(r)  # type: ignore[attr-defined]
        return grouped


ProposalEntries = tuple[Proposal, list[Dispatch], dict[int, list[str]]]


class ProposalByRequestLoader(_Loader[int, ProposalEntries]):
    """The proposal of requests the caller may see in full, its providers in the order they
    joined it, and the services each is accepted for (callers check access)."""

    async def fetch(self, keys: list[int]) -> dict[Hashable, ProposalEntries]:
        proposals = {p.request_id: p for p in await Proposal.filter(request_id__in=keys)}  # type: ignore[attr-defined]
        if not proposals:
            return {}
        entries: dict[int, list[Dispatch]] = defaultdict(list)
        rows = (
            Dispatch.filter(request_id__in=list(proposals), proposed_at__not_isnull=True)
            .exclude(status=DispatchStatus.DECLINED)
            .select_related("membership__company")
        )
        for d in await rows.order_by("proposed_at", "id"):
            entries[d.request_id].append(d)  # type: ignore[attr-defined]
        members = {d.membership_id for ds in entries.values() for d in ds}  # type: ignore[attr-defined]
        services: dict[int, list[str]] = defaultdict(list)
        if members:
            accepted = ProviderService.filter(
                membership_id__in=members, status=ProviderServiceStatus.ACCEPTED
            ).select_related("service")
            for r in await accepted.order_by("service__name"):
                services[r.membership_id].append(r.service.name)  # type: ignore[attr-defined]
        return {
            request_id: (proposal, entries[request_id], services)
            for request_id, proposal in proposals.items()
        }
