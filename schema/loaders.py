"""Per-operation DataLoaders: one statement per list level, whatever the number of rows.

Each loader gathers the keys of one relation for every object of a list, and hands them at
once to the use case that reads them (``resolvers``), which also decides what the actor sees
of them. Loaders live for one operation (``FreshLoaders``); in a subscription they do not
cache, since one operation lasts as long as the subscription and the rows change between
events.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Generic, TypeVar

from graphql import OperationType
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.types.nodes import SelectedField

from models.account import Client
from models.catalog import Service
from models.commission import CommissionRate
from models.consent import ClientConsentRecord, ConsentState
from models.dispatch import Dispatch, DispatchAnswerAudit, RequestRound, ServiceRequest
from models.document import DocumentReview
from models.membership import Membership, MembershipAudit
from resolvers import catalog, commission, consent, document_review, document_tab, membership
from resolvers.actor import Actor
from resolvers.catalog import ServiceLine
from resolvers.client import gdpr as client_gdpr
from resolvers.dispatch import reads
from resolvers.dispatch.reads import ProposalEntries
from resolvers.document import DocumentState
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
        found = await self.fetch(unique)
        return [found.get(self.key_of(k), self.missing) for k in keys]

    async def fetch(self, keys: list[K]) -> Mapping[Any, V]:
        """The value of each key found, by ``key_of``; an exception as a value is raised by
        the load of its key."""
        raise NotImplementedError


class _ByFile(_Loader[Membership, V]):
    """Keyed by a provider's file, loaded once per membership id."""

    @staticmethod
    def key_of(key: Membership) -> Hashable:
        return int(key.id)


class _ByRequest(_Loader[ServiceRequest, V]):
    """Keyed by a request, loaded once per request id."""

    @staticmethod
    def key_of(key: ServiceRequest) -> Hashable:
        return int(key.id)


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

    async def fetch(self, keys: list[int]) -> Mapping[Any, Service]:
        return await catalog.services_by_id(self.actor, keys)


class MembershipServicesLoader(_ByFile[list[ServiceLine]]):
    """The Services tab of several files."""

    async def fetch(self, keys: list[Membership]) -> Mapping[Any, Any]:
        return await catalog.services_of_files(self.actor, keys)


# --- membership -----------------------------------------------------------------------------


class TermsToAcceptLoader(_ByFile[bool]):
    """Whether each file's provider must accept its marketplace's current terms of use."""

    async def fetch(self, keys: list[Membership]) -> Mapping[Any, bool]:
        return await membership.terms_to_accept(self.actor, keys)


class MembershipByIdLoader(_Loader[int, Membership]):
    """Files (with company and marketplace) named by rows the actor was already allowed to read."""

    async def fetch(self, keys: list[int]) -> Mapping[Any, Membership]:
        return await membership.memberships_by_id(self.actor, keys)


class ConsentByMembershipLoader(_ByFile[list[ConsentState]]):
    """The consent in force on each channel of several files (the GDPR tab)."""

    async def fetch(self, keys: list[Membership]) -> Mapping[Any, Any]:
        return await consent.consent_of_files(self.actor, keys)


class AuditByMembershipLoader(_ByFile[list[MembershipAudit]]):
    """Status changes of several files, oldest first; staff only (others get null)."""

    async def fetch(self, keys: list[Membership]) -> Mapping[Any, list[MembershipAudit]]:
        return await membership.audits_of(self.actor, keys)


class CommissionHistoryByMembershipLoader(_Loader[int, list[CommissionRate]]):
    """Every rate set for several providers, the latest first."""

    missing: Any = []

    async def fetch(self, keys: list[int]) -> Mapping[Any, list[CommissionRate]]:
        return await commission.rate_histories(self.actor, keys)


class CommissionRateLoader(_Loader[commission.RateAsked, Decimal]):
    """The rate in force for (file, service, day) of several files: no statement per file."""

    @staticmethod
    def key_of(key: commission.RateAsked) -> Hashable:
        membership, service_id, on = key
        return (int(membership.id), service_id, on)

    async def fetch(self, keys: list[commission.RateAsked]) -> Mapping[Any, Decimal]:
        return await commission.rates_in_force(keys)


class DocumentStateByMembershipLoader(_ByFile[DocumentState]):
    """The worst state of a file's required company documents; null for other viewers."""

    async def fetch(self, keys: list[Membership]) -> Mapping[Any, DocumentState]:
        return await document_tab.document_states(self.actor, keys)


class ReviewByDocumentLoader(_Loader[int, DocumentReview]):
    """The acting marketplace's review of each company document (absent: not reviewed)."""

    async def fetch(self, keys: list[int]) -> Mapping[Any, DocumentReview]:
        return await document_review.reviews_of(self.actor, keys)


# --- requests and answers -------------------------------------------------------------------


class ClientByRequestLoader(_ByRequest[Client]):
    """The client of each request, where the actor is shown it (null otherwise)."""

    async def fetch(self, keys: list[ServiceRequest]) -> Mapping[Any, Client]:
        return await reads.clients_of(self.actor, keys)


class VisibleRequestLoader(_Loader[int, ServiceRequest]):
    """Requests by id, as the actor may see them (absent otherwise)."""

    async def fetch(self, keys: list[int]) -> Mapping[Any, ServiceRequest]:
        return await reads.requests_by_id(self.actor, keys)


class MyDispatchByRequestLoader(_Loader[int, Dispatch]):
    """The acting provider's own dispatch of each request."""

    async def fetch(self, keys: list[int]) -> Mapping[Any, Dispatch]:
        return await reads.my_dispatches(self.actor, keys)


class DispatchesByRequestLoader(_Loader[int, list[Dispatch]]):
    """Every dispatch of each request for readers of the marketplace; a provider, its own."""

    missing: Any = []

    async def fetch(self, keys: list[int]) -> Mapping[Any, list[Dispatch]]:
        return await reads.dispatches_of(self.actor, keys)


class AnswersByDispatchLoader(_Loader[int, list[DispatchAnswerAudit]]):
    """The answer history of dispatches the actor was allowed to read, oldest first."""

    missing: Any = []

    async def fetch(self, keys: list[int]) -> Mapping[Any, list[DispatchAnswerAudit]]:
        return await reads.answers_of(self.actor, keys)


class RoundsByRequestLoader(_Loader[int, list[RequestRound]]):
    """The rounds of requests the actor was allowed to read, first first."""

    missing: Any = []

    async def fetch(self, keys: list[int]) -> Mapping[Any, list[RequestRound]]:
        return await reads.rounds_of(self.actor, keys)


class ProposalByRequestLoader(_ByRequest[ProposalEntries]):
    """The proposal of each request, for those who see the request whole (null otherwise)."""

    async def fetch(self, keys: list[ServiceRequest]) -> Mapping[Any, ProposalEntries]:
        return await reads.proposals_of(self.actor, keys)


# --- clients --------------------------------------------------------------------------------


class ConsentByClientLoader(_Loader[Client, list[ClientConsentRecord]]):
    """The consent in force per channel of clients the actor may see."""

    missing: Any = []

    @staticmethod
    def key_of(key: Client) -> Hashable:
        return int(key.id)

    async def fetch(self, keys: list[Client]) -> Mapping[Any, list[ClientConsentRecord]]:
        return await client_gdpr.consent_of_clients(self.actor, keys)
