"""The Documents tab of a provider's file: everything filed for one membership."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from models.document import (
    Document,
    DocumentKind,
    DocumentReview,
    DocumentReviewStatus,
    DocumentType,
    RequiredDocumentType,
)
from models.membership import Membership
from models.terms import TermsAcceptance, TermsVersion
from presta import clock, db
from presta.db import padded
from presta.i18n import _
from resolvers import compiled, document_compiled  # noqa: F401 (its declarations)
from resolvers.actor import Actor
from resolvers.document import (
    EXPIRING_SOON_DAYS,
    DocumentState,
    required_types_of,
    state_of,
)
from resolvers.errors import not_found
from resolvers.membership import split_files
from resolvers.terms import current_terms, internal_documents_of, terms_acceptances


@dataclass(slots=True)
class CompanyDocumentStatus:
    """One document type: whether it is required, its current document and its state."""

    document_type: DocumentType
    required: bool
    state: DocumentState
    current: Document | None
    documents: list[Document] = field(default_factory=list)


@dataclass(slots=True)
class MembershipDocuments:
    membership: Membership
    terms: TermsVersion | None
    terms_acceptances: list[TermsAcceptance]
    internal_documents: list[Document]
    company_documents: list[CompanyDocumentStatus]
    contracts: list[Document]
    invoices: list[Document]


async def membership_documents(actor: Actor, membership_id: int) -> MembershipDocuments:
    """Staff of the membership's marketplace and the provider itself see its documents."""
    marketplace_id = actor.require_marketplace()
    membership = await Membership.get_or_none(id=membership_id, marketplace_id=marketplace_id)
    if membership is None or not actor.sees_tab_of(membership_id):
        raise not_found(_("Membership"), field="membershipId")
    company_id: int = membership.company_id
    own = await Document.filter(
        deleted_at__isnull=True,
        membership_id=membership_id,
        kind__in=[DocumentKind.CONTRACT, DocumentKind.INVOICE],
    ).order_by("-id")
    return MembershipDocuments(
        membership=membership,
        terms=await current_terms(marketplace_id),
        terms_acceptances=await terms_acceptances(membership_id),
        internal_documents=await internal_documents_of(marketplace_id),
        company_documents=await company_document_statuses(company_id, marketplace_id),
        contracts=[d for d in own if d.kind is DocumentKind.CONTRACT],
        invoices=[d for d in own if d.kind is DocumentKind.INVOICE],
    )


async def company_document_statuses(
    company_id: int, marketplace_id: int
) -> list[CompanyDocumentStatus]:
    """Required types first (MISSING when absent), then other types the company filed; a
    type whose every document the marketplace rejected is REJECTED."""
    today = clock.now().date()
    required = await required_types_of(marketplace_id)
    documents = (
        await Document.filter(
            company_id=company_id, kind=DocumentKind.COMPANY, deleted_at__isnull=True
        )
        .order_by("-id")
        .select_related("document_type")
    )
    by_type: dict[int, list[Document]] = {}
    types: dict[int, DocumentType] = {t.id: t for t in required}
    for doc in documents:
        doc_type = doc.document_type
        if doc_type is None:
            continue
        by_type.setdefault(doc_type.id, []).append(doc)
        types.setdefault(doc_type.id, doc_type)
    rejected = await _rejected({marketplace_id}, [d.id for d in documents])
    required_ids = {t.id for t in required}
    order = [t.id for t in required] + sorted(set(types) - required_ids)
    statuses = []
    for type_id in order:
        filed = by_type.get(type_id, [])
        current, state = _current(filed, rejected.get(marketplace_id, set()), today)
        statuses.append(
            CompanyDocumentStatus(
                document_type=types[type_id],
                required=type_id in required_ids,
                state=state,
                current=current,
                documents=filed,
            )
        )
    return statuses


def _current(
    filed: list[Document], rejected: set[int], today: date
) -> tuple[Document | None, DocumentState]:
    """The document that counts for a type (the best one not rejected) and the type's state."""
    current = _best([d for d in filed if d.id not in rejected], today)
    if current is None and filed:
        return None, DocumentState.REJECTED
    return current, state_of(current, today)


async def _rejected(marketplaces: set[int], document_ids: list[int]) -> dict[int, set[int]]:
    """The documents each marketplace rejected, among these."""
    found: dict[int, set[int]] = defaultdict(set)
    if not document_ids:
        return found
    for marketplace_id, document_id in await DocumentReview.filter(
        marketplace_id__in=padded(sorted(marketplaces)),
        document_id__in=padded(sorted(document_ids)),
        status=DocumentReviewStatus.REJECTED,
    ).values_list("marketplace_id", "document_id"):
        found[marketplace_id].add(document_id)
    return found


def _best(documents: list[Document], today: date) -> Document | None:
    """The document that keeps the type valid the longest (no end date beats any date)."""
    if not documents:
        return None
    return max(
        documents,
        key=lambda d: (d.expires_on is None, d.expires_on or today, d.id),
    )


_SEVERITY = [
    DocumentState.VALID,
    DocumentState.EXPIRING_SOON,
    DocumentState.EXPIRED,
    DocumentState.REJECTED,
    DocumentState.MISSING,
]


def _worst(states: Iterable[DocumentState]) -> DocumentState:
    return max(states, key=_SEVERITY.index, default=DocumentState.VALID)


# The company documents of those types, each with the marketplaces that rejected it: one
# statement for the whole screen.
_FILED_WITH_REJECTIONS = """
SELECT d.id, d.company_id, d.document_type_id, d.expires_on,
       COALESCE(array_agg(r.marketplace_id) FILTER (WHERE r.id IS NOT NULL), '{}') AS rejected_in
FROM document d
LEFT JOIN document_review r
  ON r.document_id = d.id AND r.status = 'REJECTED' AND r.marketplace_id = ANY(:marketplaces)
WHERE d.company_id = ANY(:companies) AND d.document_type_id = ANY(:types)
  AND d.kind = 'COMPANY' AND d.deleted_at IS NULL
GROUP BY d.id
"""


async def document_states(actor: Actor, files: list[Membership]) -> dict[int, DocumentState]:
    """The worst state of each file's required company documents (``company_document_statuses``
    in short), for those who open the file (absent for anyone else)."""
    allowed, _ = split_files(actor, files)
    if not allowed:
        return {}
    marketplaces = padded(sorted({m.marketplace_id for m in allowed}))
    required: dict[int, set[int]] = defaultdict(set)
    for marketplace_id, type_id in await RequiredDocumentType.filter(
        marketplace_id__in=marketplaces
    ).values_list("marketplace_id", "document_type_id"):
        required[marketplace_id].add(type_id)
    wanted = set().union(*required.values()) if required else set()
    filed: dict[tuple[int | None, int | None], list[Document]] = defaultdict(list)
    rejected: dict[int, set[int]] = defaultdict(set)
    if wanted:
        for row in await db.rows(
            _FILED_WITH_REJECTIONS,
            companies=sorted({m.company_id for m in allowed}),
            types=sorted(wanted),
            marketplaces=sorted(marketplaces),
        ):
            d = Document(id=row["id"], expires_on=row["expires_on"])
            filed[(row["company_id"], row["document_type_id"])].append(d)
            for marketplace_id in row["rejected_in"]:
                rejected[marketplace_id].add(d.id)
    today = clock.now().date()
    return {
        m.id: _worst(
            _current(filed[(m.company_id, t)], rejected.get(m.marketplace_id, set()), today)[1]
            for t in required[m.marketplace_id]
        )
        for m in allowed
    }


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# ``document_states`` in SQL: per required type, the best document (one without an end date,
# else the latest end) gives its state; the file shows the worst. ``today`` is the clock's.

_SEVERITY_SQL = " ".join(f"WHEN {i} THEN '{s.value}'" for i, s in enumerate(_SEVERITY))


def _document_state(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    if not b.opened:  # refused or hidden for a file the actor does not open (sees_file)
        raise compiled.Fallback("a file not known to be opened")
    today = b.param(lambda _inputs: clock.now().date(), "date")
    r, d, rv = b.alias(), b.alias(), b.alias()
    valid, soon, expired, rejected, missing = (_SEVERITY.index(s) for s in _SEVERITY)
    kept = f"FILTER (WHERE {rv}.id IS NULL)"  # the documents this marketplace did not reject
    per_type = (
        f"SELECT CASE WHEN count({d}.id) = 0 THEN {missing} "
        f"WHEN count({d}.id) {kept} = 0 THEN {rejected} "
        f"WHEN bool_or({d}.expires_on IS NULL) {kept} THEN {valid} "
        f"WHEN max({d}.expires_on) {kept} <= {today} THEN {expired} "
        f"WHEN max({d}.expires_on) {kept} <= {today} + {EXPIRING_SOON_DAYS} THEN {soon} "
        f"ELSE {valid} END AS severity "
        f"FROM required_document_type {r} LEFT JOIN document {d} "
        f"ON {d}.company_id = {alias}.company_id AND {d}.kind = '{DocumentKind.COMPANY.value}' "
        f"AND {d}.deleted_at IS NULL AND {d}.document_type_id = {r}.document_type_id "
        f"LEFT JOIN document_review {rv} ON {rv}.document_id = {d}.id "
        f"AND {rv}.marketplace_id = {alias}.marketplace_id "
        f"AND {rv}.status = '{DocumentReviewStatus.REJECTED.value}' "
        f"WHERE {r}.marketplace_id = {alias}.marketplace_id GROUP BY {r}.document_type_id"
    )
    return f"(SELECT CASE COALESCE(max(severity), {valid}) {_SEVERITY_SQL} END FROM ({per_type}) x)"


compiled.declare_type("Membership", {"documentState": _document_state})
