"""Document types, the documents a marketplace requires, uploads, access and download links."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from tortoise.expressions import Q, Subquery

from models.account import ApiKey, User
from models.document import (
    Document,
    DocumentKind,
    DocumentReview,
    DocumentReviewStatus,
    DocumentType,
    RequiredDocumentType,
)
from models.membership import Membership, MembershipStatus
from models.terms import TermsVersion
from presta import clock, storage
from presta.i18n import N_, _
from presta.settings import settings
from presta.tx import atomic
from resolvers.actor import Actor, RoleGrant
from resolvers.authentication import actor_for_user
from resolvers.compiled.rules import (
    Among,
    Flag,
    Missing,
    Rule,
    Same,
    Via,
    all_of,
    any_of,
    where,
)
from resolvers.errors import not_found

EXPIRING_SOON_DAYS = 30
# Staff approved or rejected a company document (resolvers/document_review.py).
DOCUMENT_REVIEWED = "document.reviewed"


class DocumentErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    EMPTY_FILE = "EMPTY_FILE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"
    TYPE_MISMATCH = "TYPE_MISMATCH"


class DocumentState(StrEnum):
    VALID = "VALID"
    EXPIRING_SOON = "EXPIRING_SOON"
    EXPIRED = "EXPIRED"
    # Every document filed for the type was rejected by the marketplace's staff.
    REJECTED = "REJECTED"
    MISSING = "MISSING"


# code, label, expires, validity in days
CATALOGUE: tuple[tuple[str, str, bool, int | None], ...] = (
    ("KBIS", N_("Company registration extract (Kbis)"), True, 90),
    ("RC_PRO", N_("Professional liability insurance certificate (RC Pro)"), True, 365),
    ("URSSAF", N_("Social-contributions certificate (URSSAF attestation de vigilance)"), True, 180),
    ("RIB", N_("Bank details (RIB)"), False, None),
    ("MANAGER_ID", N_("Identity document of the manager"), False, None),
    ("SAP", N_("Personal-services declaration (déclaration SAP)"), False, None),
)


async def ensure_document_types() -> None:
    """The platform catalogue holds at least the usual French document types."""
    existing = {t.code for t in await DocumentType.all()}
    for code, label, expires, days in CATALOGUE:
        if code not in existing:
            await DocumentType.create(code=code, label=label, expires=expires, validity_days=days)


async def list_document_types(actor: Actor) -> list[DocumentType]:
    """The catalogue is readable by anyone signed in."""
    if not actor.is_authenticated:
        return []
    return await DocumentType.all().order_by("id")


async def document_types_by_id(ids: list[int]) -> dict[int, DocumentType]:
    return {t.id: t for t in await DocumentType.filter(id__in=ids)} if ids else {}


async def visible_document_types(actor: Actor, ids: list[int]) -> dict[int, DocumentType]:
    """The catalogue is readable by anyone signed in."""
    if not actor.is_authenticated:
        return {}
    return await document_types_by_id(ids)


async def required_types_of(marketplace_id: int) -> list[DocumentType]:
    """Without authorization: callers (invitation readers) have checked access already."""
    return await DocumentType.filter(required_by__marketplace_id=marketplace_id).order_by("id")


async def required_document_types(actor: Actor) -> list[DocumentType]:
    """Staff, partners and providers of the acting marketplace see what it requires."""
    marketplace_id = actor.require_marketplace()
    if not (actor.sees_whole_marketplace or actor.membership_id is not None):
        return []
    return await required_types_of(marketplace_id)


async def set_required_document_types(
    actor: Actor, *, document_type_ids: list[int]
) -> list[DocumentType]:
    """ADMIN staff replace the list of document types applicants must provide."""
    marketplace_id = actor.require_staff(admin=True)
    wanted = list(dict.fromkeys(document_type_ids))
    async with atomic():
        found = await document_types_by_id(wanted)
        if len(found) != len(wanted):
            raise not_found(_("Document type"), field="documentTypeIds")
        await (
            RequiredDocumentType.filter(marketplace_id=marketplace_id)
            .exclude(document_type_id__in=wanted)
            .delete()
        )
        kept = {
            r.document_type_id
            for r in await RequiredDocumentType.filter(marketplace_id=marketplace_id)
        }
        for type_id in wanted:
            if type_id not in kept:
                await RequiredDocumentType.create(
                    marketplace_id=marketplace_id, document_type_id=type_id
                )
    return await required_types_of(marketplace_id)


async def missing_required_documents(membership_id: int) -> list[DocumentType]:
    """Required types of the membership's marketplace with no valid company document."""
    membership = await Membership.get_or_none(id=membership_id)
    if membership is None:
        return []
    required = await required_types_of(membership.marketplace_id)
    if not required:
        return []
    valid_type_ids = set(
        await _valid_company_documents(membership.company_id, [t.id for t in required])
        .exclude(
            id__in=Subquery(
                DocumentReview.filter(
                    marketplace_id=membership.marketplace_id,
                    status=DocumentReviewStatus.REJECTED,
                ).values("document_id")
            )
        )
        .values_list("document_type_id", flat=True)
    )
    return [t for t in required if t.id not in valid_type_ids]


def _valid_company_documents(company_id: int, type_ids: list[int]):  # type: ignore[no-untyped-def]
    today = clock.now().date()
    return Document.filter(
        Q(expires_on__isnull=True) | Q(expires_on__gt=today),
        kind=DocumentKind.COMPANY,
        company_id=company_id,
        deleted_at__isnull=True,
        document_type_id__in=type_ids,
    )


async def current_terms_version(marketplace_id: int) -> int | None:
    """Number of the current terms-of-use version, None when none is published."""
    latest = await TermsVersion.filter(marketplace_id=marketplace_id).order_by("-number").first()
    return latest.number if latest is not None else None


def state_of(document: Document | None, today: date | None = None) -> DocumentState:
    """Validity of a company document today; MISSING when there is none."""
    if document is None:
        return DocumentState.MISSING
    today = today or clock.now().date()
    if document.expires_on is None:
        return DocumentState.VALID
    if document.expires_on <= today:
        return DocumentState.EXPIRED
    if document.expires_on <= today + timedelta(days=EXPIRING_SOON_DAYS):
        return DocumentState.EXPIRING_SOON
    return DocumentState.VALID


# --- access --------------------------------------------------------------------------------

K = DocumentKind
_LIVE = tuple(s.value for s in MembershipStatus if s is not MembershipStatus.DELETED)
# A company document: the company's users, and staff and partners of a marketplace where the
# company has a live file. Another document: its marketplace's staff and partners, and per
# kind the provider it is for (contracts, invoices), every provider (internal documents,
# terms) or whoever uploaded it (attachments).
_BASE = any_of(
    all_of(
        Among("kind", (K.COMPANY.value,)),
        any_of(
            # A partner key has a company of none: only a person speaks for a company.
            all_of(Flag("user_id"), Same("company_id", "company_id")),
            all_of(
                Flag("sees_whole_marketplace"),
                Via(
                    "company_id",
                    Membership,
                    "company_id",
                    all_of(Same("marketplace_id", "marketplace_id"), Among("status", _LIVE)),
                ),
            ),
        ),
    ),
    all_of(
        Among("kind", tuple(k.value for k in DocumentKind if k is not K.COMPANY)),
        Same("marketplace_id", "marketplace_id"),
        any_of(
            Flag("sees_whole_marketplace"),
            all_of(
                Among("kind", (K.CONTRACT.value, K.INVOICE.value)),
                Same("membership_id", "membership_id"),
            ),
            all_of(Among("kind", (K.INTERNAL.value, K.TERMS.value)), Flag("membership_id")),
            all_of(Among("kind", (K.ATTACHMENT.value,)), Same("uploaded_by_id", "user_id")),
        ),
    ),
)
# Other domains may open a document to more viewers (messaging: the participants of a
# conversation where it is attached). A rule only ever adds access, inside the marketplace.
_extra_rules: list[Rule] = []


def register_visibility(rule: Rule) -> None:
    if rule not in _extra_rules:
        _extra_rules.append(rule)


def sees_document() -> Rule:
    """Who sees a document, written once for the use cases and loaders (``where``) and the
    compiled path (``condition``): never a deleted one, never without credentials."""
    shared: Rule = _BASE
    if _extra_rules:
        shared = any_of(_BASE, all_of(Flag("marketplace_id"), any_of(*_extra_rules)))
    return all_of(Missing("deleted_at"), Flag("is_authenticated"), shared)


async def can_see(actor: Actor, document: Document) -> bool:
    """Company documents: the company and staff of its marketplaces; others: their marketplace."""
    if document.deleted_at is not None or not actor.is_authenticated:
        return False
    return await where(Document.filter(id=document.id), sees_document(), actor).exists()


async def visible_documents(actor: Actor, ids: list[int]) -> dict[int, Document]:
    """The documents of ``ids`` the actor may see (``sees_document``), for a batch."""
    if not ids or not actor.is_authenticated:
        return {}
    return {d.id: d for d in await where(Document.filter(id__in=ids), sees_document(), actor)}


async def get_document(actor: Actor, document_id: int, *, field: str = "id") -> Document:
    document = await Document.get_or_none(id=document_id)
    if document is None or not await can_see(actor, document):
        raise not_found(_("Document"), field=field)
    return document


def download_url(actor: Actor, document: Document) -> str:
    """A link for this viewer, valid for a few minutes; the caller has checked access."""
    return _link(
        storage.Grant(
            document_id=document.id,
            marketplace_id=actor.marketplace_id,
            user_id=actor.user_id,
            api_key_id=actor.api_key_id,
            expires_at=_expiry(),
        )
    )


def public_download_url(document: Document) -> str:
    """For people invited to a marketplace, before their account exists: its terms and guides."""
    if document.kind not in (DocumentKind.INTERNAL, DocumentKind.TERMS):
        raise ValueError("only internal documents and terms have public links")
    return _link(
        storage.Grant(
            document_id=document.id,
            marketplace_id=document.marketplace_id,
            user_id=None,
            api_key_id=None,
            expires_at=_expiry(),
        )
    )


def _expiry() -> int:
    return int(clock.now().timestamp()) + settings().download_url_ttl_seconds


def _link(grant: storage.Grant) -> str:
    return f"{settings().public_url.rstrip('/')}/files/{storage.make_download_token(grant)}"


async def open_download(token: str, *, presenter: Actor | None = None) -> Document | None:
    """The document a link gives access to, if it is still valid and access still holds.

    A link presented with someone else's credentials is refused: it was not issued to them.
    """
    grant = storage.read_download_token(token)
    if grant is None:
        return None
    issued_to = (grant.user_id, grant.api_key_id)
    presented = (presenter.user_id, presenter.api_key_id) if presenter else (None, None)
    if issued_to != (None, None) and presented not in ((None, None), issued_to):
        return None
    document = await Document.get_or_none(id=grant.document_id, deleted_at__isnull=True)
    if document is None or not storage.exists(document.storage_key):
        return None
    if grant.user_id is None and grant.api_key_id is None:
        public = document.kind in (DocumentKind.INTERNAL, DocumentKind.TERMS)
        same_marketplace = document.marketplace_id == grant.marketplace_id
        return document if public and same_marketplace else None
    actor = await _actor_of_grant(grant)
    if actor is None or not await can_see(actor, document):
        return None
    return document


async def _actor_of_grant(grant: storage.Grant) -> Actor | None:
    if grant.user_id is not None:
        user = await User.get_or_none(id=grant.user_id, is_active=True)
        if user is None:
            return None
        actor = await actor_for_user(user, grant.marketplace_id)
        return actor if actor.marketplace_id == grant.marketplace_id else None
    key = await ApiKey.get_or_none(id=grant.api_key_id, revoked_at=None)
    if key is None or key.marketplace_id != grant.marketplace_id:
        return None
    return Actor(
        marketplace_id=grant.marketplace_id,
        api_key_id=key.id,
        api_scope=key.scope,
        roles=(RoleGrant(key.marketplace_id, "PARTNER"),),
    )
