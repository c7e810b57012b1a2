"""Terms of use (versioned, accepted by each provider) and a marketplace's internal documents."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q

from models.document import Document, DocumentKind
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus
from models.terms import TermsAcceptance, TermsVersion
from presta import clock
from presta.db import padded
from presta.i18n import _, day, hour
from presta.mail import Letter, Link, send_letter
from presta.settings import settings
from presta.statements import select
from presta.tx import AfterCommit, atomic
from resolvers.account import company_recipients
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
# Topic shared with resolvers.lifecycle (which this module may not import: it imports us).
MEMBERSHIP_UPDATED = "membership.updated"
# Relationships still open: told of new terms (ended ones are not).
_TOLD = (
    MembershipStatus.INVITED,
    MembershipStatus.APPLIED,
    MembershipStatus.ACCEPTED,
    MembershipStatus.SUSPENDED,
    MembershipStatus.DEACTIVATED,
)


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
        raise forbidden(_("Only the marketplace's staff and providers may see this."))
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
        tx.enqueue("notify_terms_published", version_id=version.id)
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
        raise forbidden(_("Only a provider of this marketplace may accept its terms."))
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


# --- the grace period of new terms ---------------------------------------------------------


async def terms_overdue_from(marketplace_id: int, *, now: datetime | None = None) -> int:
    """The highest version whose grace period is over (0: none): a provider that accepted an
    older one receives no new requests (the rule ``resolvers.matching`` applies in SQL)."""
    marketplace = await Marketplace.get(id=marketplace_id)
    ended_before = (now or clock.now()) - timedelta(days=marketplace.terms_grace_days)
    latest = (
        await TermsVersion.filter(marketplace_id=marketplace_id, published_at__lte=ended_before)
        .order_by("-number")
        .only("number")
        .first()
    )
    return latest.number if latest is not None else 0


async def sweep_terms_grace_periods() -> int:
    """Job (periodic): tell each accepted provider once, by e-mail and live, that its grace
    period for the current terms is over and it receives no new requests until it accepts
    them. Returns how many were told; running it again tells nobody twice."""
    told = 0
    now = clock.now()
    for marketplace_id in (
        await TermsVersion.all().distinct().values_list("marketplace_id", flat=True)
    ):
        overdue_from = await terms_overdue_from(int(marketplace_id), now=now)  # type: ignore[call-overload]
        if overdue_from == 0:
            continue
        current = await current_terms(int(marketplace_id))  # type: ignore[call-overload]
        assert current is not None
        async with atomic() as tx:
            overdue = (
                await Membership.filter(
                    Q(terms_version_accepted__isnull=True)
                    | Q(terms_version_accepted__lt=overdue_from),
                    Q(terms_overdue_notified__isnull=True)
                    | Q(terms_overdue_notified__lt=current.number),
                    marketplace_id=marketplace_id,
                    status=MembershipStatus.ACCEPTED,
                )
                .order_by("id")
                .select_for_update(skip_locked=True)
            )
            for membership in overdue:
                await _tell_overdue(tx, membership, current.number)
            told += len(overdue)
    return told


async def _tell_overdue(tx: AfterCommit, membership: Membership, number: int) -> None:
    membership.terms_overdue_notified = number
    await membership.save(update_fields=["terms_overdue_notified", "updated_at"])
    await record_event(
        tx,
        topic=MEMBERSHIP_UPDATED,
        marketplace_id=membership.marketplace_id,
        object_type="Membership",
        object_id=membership.id,
        audience=[staff_audience(membership.marketplace_id), f"membership:{membership.id}"],
        payload={"change": "terms_overdue", "number": number},
    )
    tx.enqueue("notify_terms_overdue", membership_id=membership.id, number=number)


async def notify_terms_published(version_id: int) -> None:
    """Job: tell every provider still in the marketplace that new terms await acceptance, and
    until when it keeps receiving new requests without accepting them."""
    version = await TermsVersion.get_or_none(id=version_id).select_related("marketplace")
    if version is None:
        return
    current = await current_terms(version.marketplace_id)
    if current is None or current.id != version.id:
        return  # superseded before the mail went: the newer version's job tells
    marketplace = version.marketplace
    accept_by = version.published_at + timedelta(days=marketplace.terms_grace_days)
    members = await Membership.filter(
        marketplace_id=marketplace.id, status__in=_TOLD
    ).select_related("company")
    for membership in members:
        if (membership.terms_version_accepted or 0) >= version.number:
            continue
        letter = terms_published_letter(
            marketplace.name,
            membership.company.name,
            version.number,
            accept_by,
            marketplace.time_zone,
        )
        await send_letter(letter, await company_recipients(membership.company))


def terms_published_letter(
    marketplace: str, company: str, number: int, accept_by: datetime, zone: str
) -> Letter:
    return Letter(
        subject=_("{marketplace}: new terms of use to accept", marketplace=marketplace),
        paragraphs=[
            f"{marketplace} — {company}",
            _(
                "{marketplace} published version {number} of its terms of use. Please read and "
                "accept them from your provider account before {day} at {hour} ({zone}): after "
                "that date you receive no new requests until you accept them.",
                marketplace=marketplace,
                number=number,
                day=day(accept_by, zone),
                hour=hour(accept_by, zone),
                zone=zone,
            ),
            Link(f"{settings().public_url}/", _("Your provider file:")),
        ],
    )


async def notify_terms_overdue(membership_id: int, number: int) -> None:
    """Job: tell the provider its grace period is over (skipped if it accepted meanwhile)."""
    membership = await Membership.get_or_none(id=membership_id).select_related(
        "marketplace", "company"
    )
    if membership is None or (membership.terms_version_accepted or 0) >= number:
        return
    letter = terms_overdue_letter(membership.marketplace.name, membership.company.name, number)
    await send_letter(letter, await company_recipients(membership.company))


def terms_overdue_letter(marketplace: str, company: str, number: int) -> Letter:
    return Letter(
        subject=_(
            "{marketplace}: accept the new terms of use to receive requests",
            marketplace=marketplace,
        ),
        paragraphs=[
            f"{marketplace} — {company}",
            _(
                "The period to accept version {number} of the terms of use of {marketplace} is "
                "over: you receive no new requests until you accept them from your provider "
                "account. Requests already sent to you are not affected.",
                number=number,
                marketplace=marketplace,
            ),
            Link(f"{settings().public_url}/", _("Your provider file:")),
        ],
    )
