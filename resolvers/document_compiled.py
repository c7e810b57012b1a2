"""The compiled reads of documents (``resolvers.compiled``): the Document type as
``schema.document.Document`` shows it, ``node(id:)`` (``sees_document``), and the Documents tab
of a provider's file (``document_tab.membership_documents``) for whoever reads its tabs
(``OPENS_TABS``). A download link is signed in Python for the viewer (``download_url``): an
operation that asks for it runs standard."""

from __future__ import annotations

from models.document import DocumentKind, DocumentReviewStatus
from presta import clock
from presta.settings import settings
from resolvers import compiled
from resolvers.compiled.rules import condition, visible_row
from resolvers.document import EXPIRING_SOON_DAYS, DocumentState, sees_document
from resolvers.membership import OPENS_TABS


def _state_of(b: compiled.Builder, alias: str) -> str:
    """``state_of`` the document ``alias`` with the clock's today."""
    today = b.param(lambda _inputs: clock.now().date(), "date")
    s = DocumentState
    return (
        f"CASE WHEN {alias}.expires_on IS NULL THEN '{s.VALID.value}' "
        f"WHEN {alias}.expires_on <= {today} THEN '{s.EXPIRED.value}' "
        f"WHEN {alias}.expires_on <= {today} + {EXPIRING_SOON_DAYS} "
        f"THEN '{s.EXPIRING_SOON.value}' ELSE '{s.VALID.value}' END"
    )


def _state(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    return _state_of(b, alias)


def _review(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    """The acting marketplace's review of a company document (``reviews_of``)."""
    acting = b.param(lambda inputs: inputs.actor.marketplace_id, "bigint")
    r = b.alias()
    body = b.object("DocumentReview", r, s.selection_set)
    return (
        f"CASE WHEN {alias}.kind = '{DocumentKind.COMPANY.value}' THEN (SELECT {body} "
        f"FROM document_review {r} WHERE {r}.document_id = {alias}.id "
        f"AND {r}.marketplace_id = {acting}) END"
    )


def _signed_in_python(_b: compiled.Builder, _alias: str, _s: compiled.Selected) -> str:
    raise compiled.Fallback("a download link is signed in Python")


def _link_lifetime(b: compiled.Builder, _alias: str, _s: compiled.Selected) -> str:
    return b.param(lambda _inputs: settings().download_url_ttl_seconds, "int")


compiled.declare_type(
    "DocumentReview",
    {
        "status": compiled.column("{t}.status"),
        "reason": compiled.column("{t}.reason"),
        "reviewedAt": compiled.column("{t}.reviewed_at", "datetime"),
    },
)
compiled.declare_type(
    "Document",
    {
        "id": compiled.node_id("Document"),
        "kind": compiled.column("{t}.kind"),
        "title": compiled.column("{t}.title"),
        "filename": compiled.column("{t}.filename"),
        "contentType": compiled.column("{t}.content_type"),
        "size": compiled.column("{t}.size"),
        "sha256": compiled.column("{t}.sha256"),
        "validFrom": compiled.column("{t}.valid_from", "date"),
        "expiresOn": compiled.column("{t}.expires_on", "date"),
        "createdAt": compiled.column("{t}.created_at", "datetime"),
        "documentTypeId": compiled.node_id("DocumentType", "{t}.document_type_id"),
        "state": _state,
        "review": _review,
        "downloadUrl": _signed_in_python,
        "downloadUrlExpiresInSeconds": _link_lifetime,
    },
)
# ``sees_document()`` is read when planning: messaging has widened it by then.
compiled.declare_node(
    "Document", compiled.NodeRead(lambda b: visible_row("document", sees_document())(b))
)


# --- the Documents tab ----------------------------------------------------------------------

_COMPANY = f"'{DocumentKind.COMPANY.value}'"
_REJECTED = f"'{DocumentReviewStatus.REJECTED.value}'"


def _membership_pk(b: compiled.Builder, s: compiled.Selected) -> str:
    given = b.argument(s.node, "membershipId")

    def pk(inputs: compiled.Inputs) -> int:
        # Another type's id is "not found" to the standard executor: its answer, not ours.
        type_name, number = compiled.decode_global_id(given(inputs))
        if type_name != "Membership":
            raise compiled.Fallback("not a Membership id")
        return number

    return b.param(pk, "bigint")


def _documents_tab(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    """``membership_documents``: null for a file whose tabs the actor does not read."""
    if not (b.kind.authenticated and b.kind.in_marketplace):
        raise compiled.Fallback("no acting marketplace: refused")
    pk = _membership_pk(b, s)
    m = b.alias()
    body = b.object("MembershipDocuments", m, s.selection_set)
    seen = condition(OPENS_TABS, b, m)
    return f"(SELECT {body} FROM membership {m} WHERE {m}.id = {pk} AND {seen})"


def _filed(d: str, company: str, document_type: str) -> str:
    """``FROM``: the live company documents ``d`` of a company, of one type."""
    return (
        f"FROM document {d} WHERE {d}.company_id = {company} "
        f"AND {d}.kind = {_COMPANY} AND {d}.deleted_at IS NULL "
        f"AND {d}.document_type_id = {document_type}"
    )


def _of_line(d: str, line: str) -> str:
    return _filed(d, f"{line}.company_id", f"{line}.type_id")


def _company_documents(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    """``company_document_statuses``: required types first (by id), then the other types the
    company filed; each line with the best document the marketplace did not reject."""
    t, rq, x, d, r, line = (b.alias() for _ in range(6))
    types = (
        f"SELECT {t}.id AS type_id, ({rq}.id IS NOT NULL) AS required, "
        f"{alias}.company_id AS company_id, {alias}.marketplace_id AS marketplace_id "
        f"FROM document_type {t} LEFT JOIN required_document_type {rq} "
        f"ON {rq}.document_type_id = {t}.id AND {rq}.marketplace_id = {alias}.marketplace_id "
        f"WHERE {rq}.id IS NOT NULL "
        f"OR EXISTS (SELECT 1 {_filed(d, f'{alias}.company_id', f'{t}.id')})"
    )
    best = (
        f"(SELECT {d}.id {_of_line(d, x)} AND NOT EXISTS (SELECT 1 FROM document_review {r} "
        f"WHERE {r}.document_id = {d}.id AND {r}.marketplace_id = {x}.marketplace_id "
        f"AND {r}.status = {_REJECTED}) "
        f"ORDER BY ({d}.expires_on IS NULL) DESC, {d}.expires_on DESC, {d}.id DESC LIMIT 1)"
    )
    rows = f"SELECT {x}.*, {best} AS best_id FROM ({types}) {x}"
    body = b.object("CompanyDocumentStatus", line, s.selection_set)
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {line}.required DESC, {line}.type_id) "
        f"FROM ({rows}) {line}), '[]'::json)"
    )


def _line_state(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    d = b.alias()
    s = DocumentState
    return (
        f"CASE WHEN {alias}.best_id IS NOT NULL THEN "
        f"(SELECT {_state_of(b, d)} FROM document {d} WHERE {d}.id = {alias}.best_id) "
        f"WHEN EXISTS (SELECT 1 {_of_line(d, alias)}) THEN '{s.REJECTED.value}' "
        f"ELSE '{s.MISSING.value}' END"
    )


def _line_documents(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    d = b.alias()
    body = b.object("Document", d, s.selection_set)
    listed = f"SELECT json_agg({body} ORDER BY {d}.id DESC) {_of_line(d, alias)}"
    return f"COALESCE(({listed}), '[]'::json)"


def _own(kind: DocumentKind) -> compiled.Read:
    """The file's contracts or invoices, newest first."""
    return compiled.many(
        "Document",
        f"FROM document {{c}} WHERE {{c}}.membership_id = {{t}}.id AND {{c}}.kind = "
        f"'{kind.value}' AND {{c}}.deleted_at IS NULL",
        "{c}.id DESC",
    )


def _accepted_by(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    u = b.alias()
    return (
        f"(SELECT COALESCE(NULLIF({u}.full_name, ''), {u}.email) FROM account_user {u} "
        f"WHERE {u}.id = {alias}.user_id)"
    )


def _version(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    v = b.alias()
    return f"(SELECT {v}.number FROM terms_version {v} WHERE {v}.id = {alias}.version_id)"


def _current_terms(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    v = b.alias()
    return (
        f"(SELECT max({v}.number) FROM terms_version {v} "
        f"WHERE {v}.marketplace_id = {alias}.marketplace_id)"
    )


compiled.declare_type(
    "DocumentType",
    {
        "id": compiled.node_id("DocumentType"),
        "code": compiled.column("{t}.code"),
        "label": compiled.column("{t}.label"),
        "expires": compiled.column("{t}.expires"),
        "validityDays": compiled.column("{t}.validity_days"),
    },
)
compiled.declare_type(
    "CompanyDocumentStatus",
    {
        "documentType": compiled.one(
            "DocumentType", "FROM document_type {c} WHERE {c}.id = {t}.type_id"
        ),
        "required": compiled.column("{t}.required"),
        "state": _line_state,
        "current": compiled.one("Document", "FROM document {c} WHERE {c}.id = {t}.best_id"),
        "documents": _line_documents,
    },
)
compiled.declare_type(
    "TermsAcceptanceRecord",
    {
        "version": _version,
        "acceptedAt": compiled.column("{t}.accepted_at", "datetime"),
        "acceptedBy": _accepted_by,
    },
)
compiled.declare_type(
    "MembershipDocuments",
    {
        "membershipId": compiled.node_id("Membership"),
        "internalDocuments": compiled.many(
            "Document",
            f"FROM document {{c}} WHERE {{c}}.marketplace_id = {{t}}.marketplace_id "
            f"AND {{c}}.kind = '{DocumentKind.INTERNAL.value}' AND {{c}}.deleted_at IS NULL",
            "{c}.id",
        ),
        "termsVersion": _current_terms,
        "termsVersionAccepted": compiled.column("{t}.terms_version_accepted"),
        "termsAcceptances": compiled.many(
            "TermsAcceptanceRecord",
            "FROM terms_acceptance {c} WHERE {c}.membership_id = {t}.id",
            "{c}.id DESC",
        ),
        "companyDocuments": _company_documents,
        "contracts": _own(DocumentKind.CONTRACT),
        "invoices": _own(DocumentKind.INVOICE),
    },
)
compiled.declare_root("membershipDocuments", _documents_tab)


# --- the document roots -----------------------------------------------------------------------


def _acting(b: compiled.Builder) -> str:
    return b.param(lambda inputs: inputs.actor.marketplace_id, "bigint")


def _internal_documents(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    """``terms.internal_documents``: staff, partners and providers of the marketplace."""
    if not (b.kind.in_marketplace and (b.kind.whole_marketplace or b.kind.provider)):
        raise compiled.Fallback("refused: the standard executor's error")
    d = b.alias()
    body = b.object("Document", d, s.selection_set)
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {d}.id) FROM document {d} "
        f"WHERE {d}.marketplace_id = {_acting(b)} AND {d}.kind = "
        f"'{DocumentKind.INTERNAL.value}' AND {d}.deleted_at IS NULL), '[]'::json)"
    )


def _document_types(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    """``list_document_types``: the catalogue, for anyone signed in."""
    if not b.kind.authenticated:
        raise compiled.Fallback("anonymous")
    t = b.alias()
    body = b.object("DocumentType", t, s.selection_set)
    return f"COALESCE((SELECT json_agg({body} ORDER BY {t}.id) FROM document_type {t}), '[]'::json)"


def _required_document_types(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    """``required_document_types``: staff, partners and providers of the marketplace (the
    policy refuses the others; a signed-in member without a file gets none: standard)."""
    if not (b.kind.in_marketplace and (b.kind.whole_marketplace or b.kind.provider)):
        raise compiled.Fallback("refused or empty: the standard executor's answer")
    t, r = b.alias(), b.alias()
    body = b.object("DocumentType", t, s.selection_set)
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {t}.id) FROM document_type {t} "
        f"JOIN required_document_type {r} ON {r}.document_type_id = {t}.id "
        f"WHERE {r}.marketplace_id = {_acting(b)}), '[]'::json)"
    )


compiled.declare_root("internalDocuments", _internal_documents)
compiled.declare_root("documentTypes", _document_types)
compiled.declare_root("requiredDocumentTypes", _required_document_types)
