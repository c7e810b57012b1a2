"""Terms of use (versioned, accepted by each provider) and a marketplace's internal documents."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from models.document import Document, DocumentKind
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus
from models.terms import TermsAcceptance, TermsVersion
from presta import clock
from presta.db import padded
from presta.i18n import _
from presta.statements import select
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.document_upload import (
    UploadedFile,
    check_file,
    clean_title,
    document_fields,
    staged,
)
from resolvers.errors import UserError, forbidden, not_found
from resolvers.events import record_event, staff_audience

MAX_TERMS_TEXT = 200_000
TERMS_PUBLISHED = "terms.published"
TERMS_ACCEPTED = "terms.accepted"


class TermsErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    NO_TERMS = "NO_TERMS"
    TERMS_OUTDATED = "TERMS_OUTDATED"
    EMPTY_FILE = "EMPTY_FILE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"
    TYPE_MISMATCH = "TYPE_MISMATCH"


def _member_or_staff(actor: Actor) -> int:
    marketplace_id = actor.require_marketplace()
    if not (actor.sees_whole_marketplace or actor.membership_id is not None):
        raise forbidden("Only the marketplace's staff and providers may see this.")
    return marketplace_id


async def publish_terms_of_use(
    actor: Actor, *, text: str = "", upload: UploadedFile | None = None
) -> TermsVersion:
    """ADMIN staff publish a new version; every provider must then accept it again (the
    version is returned with its document)."""
    marketplace_id = actor.require_staff(admin=True)
    text = text.strip()
    if not text and upload is None:
        raise UserError(
            TermsErrorCode.INVALID, _("Give the terms as text or as a file."), field="text"
        )
    if len(text) > MAX_TERMS_TEXT:
        raise UserError(TermsErrorCode.INVALID, _("The text is too long."), field="text")
    if upload is None:
        version = await _publish(actor, marketplace_id, text, None)
    else:
        content_type, filename = check_file(upload)
        with staged(upload, content_type) as stored:
            fields = document_fields(stored, filename)
            version = await _publish(actor, marketplace_id, text, fields)
    await version.fetch_related("document")
    return version


async def _publish(
    actor: Actor, marketplace_id: int, text: str, file_fields: dict[str, Any] | None
) -> TermsVersion:
    async with atomic() as tx:
        # Numbers are gapless per marketplace: publishers queue on the marketplace row.
        await Marketplace.filter(id=marketplace_id).select_for_update().first()
        latest = (
            await TermsVersion.filter(marketplace_id=marketplace_id).order_by("-number").first()
        )
        number = (latest.number if latest else 0) + 1
        document = None
        if file_fields is not None:
            document = await Document.create(
                kind=DocumentKind.TERMS,
                marketplace_id=marketplace_id,
                title=f"Terms of use, version {number}",
                uploaded_by_id=actor.user_id,
                **file_fields,
            )
        version = await TermsVersion.create(
            marketplace_id=marketplace_id,
            number=number,
            text=text,
            document=document,
            published_at=clock.now(),
            published_by_id=actor.user_id,
        )
        members = (
            await Membership.filter(marketplace_id=marketplace_id)
            .exclude(status=MembershipStatus.DELETED)
            .values_list("id", flat=True)
        )
        await record_event(
            tx,
            topic=TERMS_PUBLISHED,
            marketplace_id=marketplace_id,
            object_type="TermsOfUse",
            object_id=version.id,
            audience=[staff_audience(marketplace_id)] + [f"membership:{m}" for m in members],
            payload={"number": number},
        )
    return version


async def current_terms(marketplace_id: int) -> TermsVersion | None:
    """Without authorization: for callers (invitation readers) that checked access already."""
    return (
        await TermsVersion.filter(marketplace_id=marketplace_id)
        .order_by("-number")
        .select_related("document")
        .first()
    )


async def current_terms_numbers(actor: Actor, marketplace_ids: list[int]) -> dict[int, int]:
    """Number of the current version in each marketplace of files the actor may read (absent:
    none published)."""
    keys = padded(marketplace_ids)
    latest: dict[int, int] = {}
    versions = await select(
        "terms versions",
        keys,  # the text of the terms is not read: only their numbers
        lambda: TermsVersion.filter(marketplace_id__in=keys).only("marketplace_id", "number"),
    )
    for version in versions:
        marketplace_id = version.marketplace_id
        latest[marketplace_id] = max(version.number, latest.get(marketplace_id, 0))
    return latest


async def terms_of_use(actor: Actor) -> TermsVersion | None:
    """The current version, for the marketplace's staff and providers."""
    return await current_terms(_member_or_staff(actor))


async def terms_versions(actor: Actor) -> list[TermsVersion]:
    """Every published version, newest first, for staff."""
    marketplace_id = actor.require_reader()
    return (
        await TermsVersion.filter(marketplace_id=marketplace_id)
        .order_by("-number")
        .select_related("document")
    )


async def visible_terms_versions(actor: Actor, ids: list[int]) -> list[TermsVersion]:
    if actor.marketplace_id is None or not ids:
        return []
    if not (actor.sees_whole_marketplace or actor.membership_id is not None):
        return []
    return await TermsVersion.filter(
        id__in=ids, marketplace_id=actor.marketplace_id
    ).select_related("document")


async def accept_terms_of_use(actor: Actor, *, number: int | None = None) -> TermsAcceptance:
    """A provider user accepts the current version; accepting it again changes nothing."""
    user_id = actor.require_user()
    marketplace_id = actor.require_marketplace()
    if actor.membership_id is None:
        raise forbidden("Only a provider of this marketplace may accept its terms.")
    async with atomic() as tx:
        membership = (
            await Membership.filter(id=actor.membership_id, marketplace_id=marketplace_id)
            .exclude(status=MembershipStatus.DELETED)
            .select_for_update()
            .first()
        )
        if membership is None:
            raise not_found(_("Membership"))
        current = await current_terms(marketplace_id)
        if current is None:
            raise UserError(TermsErrorCode.NO_TERMS, _("This marketplace has no terms of use."))
        if number is not None and number != current.number:
            raise UserError(
                TermsErrorCode.TERMS_OUTDATED,
                _(
                    "Version {number} is not the current one: version {current} is.",
                    number=number,
                    current=current.number,
                ),
                field="version",
            )
        existing = await TermsAcceptance.filter(
            membership_id=membership.id, version_id=current.id
        ).first()
        if existing is not None:
            await existing.fetch_related("version", "user")
            return existing
        acceptance = await TermsAcceptance.create(
            membership=membership, version=current, user_id=user_id, accepted_at=clock.now()
        )
        membership.terms_version_accepted = current.number
        await membership.save(update_fields=["terms_version_accepted", "updated_at"])
        await record_event(
            tx,
            topic=TERMS_ACCEPTED,
            marketplace_id=marketplace_id,
            object_type="Membership",
            object_id=membership.id,
            audience=[staff_audience(marketplace_id), f"membership:{membership.id}"],
            payload={"number": current.number},
        )
    await acceptance.fetch_related("version", "user")
    return acceptance


async def terms_acceptances(membership_id: int) -> list[TermsAcceptance]:
    """History of a membership's acceptances, newest first; callers authorize."""
    return (
        await TermsAcceptance.filter(membership_id=membership_id)
        .order_by("-id")
        .select_related("version", "user")
    )


# --- internal documents --------------------------------------------------------------------


async def add_internal_document(actor: Actor, *, title: str, upload: UploadedFile) -> Document:
    """ADMIN staff add a guide or charter shown to providers when they apply."""
    marketplace_id = actor.require_staff(admin=True)
    content_type, filename = check_file(upload)
    title = clean_title(title, filename)
    with staged(upload, content_type) as stored:
        async with atomic():
            return await Document.create(
                kind=DocumentKind.INTERNAL,
                marketplace_id=marketplace_id,
                title=title,
                uploaded_by_id=actor.user_id,
                **document_fields(stored, filename),
            )


async def remove_internal_document(actor: Actor, *, document_id: int) -> Document:
    """ADMIN staff withdraw an internal document; it stays on record, no longer shown."""
    marketplace_id = actor.require_staff(admin=True)
    async with atomic():
        document = (
            await Document.filter(
                id=document_id,
                marketplace_id=marketplace_id,
                kind=DocumentKind.INTERNAL,
                deleted_at__isnull=True,
            )
            .select_for_update()
            .first()
        )
        if document is None:
            raise not_found(_("Internal document"), field="documentId")
        document.deleted_at = clock.now()
        await document.save(update_fields=["deleted_at"])
    return document


async def internal_documents_of(marketplace_id: int) -> list[Document]:
    """Without authorization: for callers (invitation readers) that checked access already."""
    return await Document.filter(
        marketplace_id=marketplace_id, kind=DocumentKind.INTERNAL, deleted_at__isnull=True
    ).order_by("id")


async def internal_documents(actor: Actor) -> list[Document]:
    """The marketplace's internal documents, for its staff and providers."""
    return await internal_documents_of(_member_or_staff(actor))
