"""Staff review the company documents of their providers: approve one, or reject it with a
reason the provider is told by e-mail.

A company document is shared by every marketplace the company works with; each
marketplace's staff decide for their own marketplace (one ``DocumentReview`` per document
and marketplace, the latest decision). A document rejected here no longer counts for this
marketplace: its type reads ``REJECTED`` in the provider's file (``resolvers.document_tab``)
and an application cannot be submitted with it (``missing_required_documents``).
"""

from __future__ import annotations

from models.document import (
    Document,
    DocumentKind,
    DocumentReview,
    DocumentReviewStatus,
)
from models.membership import Membership, MembershipStatus
from presta import clock
from presta.i18n import Text, _
from presta.mail import Letter, Link, Paragraph, send_letter
from presta.settings import settings
from presta.tx import atomic
from resolvers.account import company_recipients
from resolvers.actor import Actor
from resolvers.document import DOCUMENT_REVIEWED, DocumentErrorCode
from resolvers.errors import UserError, not_found
from resolvers.events import record_event, staff_audience
from resolvers.lifecycle import record_membership_event

MAX_REASON = 2000


async def approve_document(actor: Actor, *, document_id: int) -> tuple[Document, DocumentReview]:
    """Staff approve a company document of one of their providers."""
    return await _review(actor, document_id, DocumentReviewStatus.APPROVED, "")


async def reject_document(
    actor: Actor, *, document_id: int, reason: str
) -> tuple[Document, DocumentReview]:
    """Staff reject a company document with a reason; the provider is told by e-mail."""
    reason = reason.strip()
    if not reason:
        raise UserError(DocumentErrorCode.INVALID, _("Give the provider a reason."), field="reason")
    if len(reason) > MAX_REASON:
        raise UserError(
            DocumentErrorCode.INVALID,
            _("The reason is at most {most} characters.", most=MAX_REASON),
            field="reason",
        )
    return await _review(actor, document_id, DocumentReviewStatus.REJECTED, reason)


async def _review(
    actor: Actor, document_id: int, status: DocumentReviewStatus, reason: str
) -> tuple[Document, DocumentReview]:
    marketplace_id = actor.require_staff()
    async with atomic() as tx:
        document = (
            await Document.filter(
                id=document_id, kind=DocumentKind.COMPANY, deleted_at__isnull=True
            )
            .select_for_update()
            .first()
        )
        membership = None
        if document is not None:
            membership = (
                await Membership.filter(
                    marketplace_id=marketplace_id, company_id=document.company_id
                )
                .exclude(status=MembershipStatus.DELETED)
                .first()
            )
        if document is None or membership is None:
            raise not_found(_("Document"), field="id")
        review = await DocumentReview.get_or_none(
            document_id=document.id, marketplace_id=marketplace_id
        )
        if review is None:
            review = DocumentReview(document_id=document.id, marketplace_id=marketplace_id)
        review.status = status
        review.reason = reason
        review.reviewed_by_id = actor.user_id
        review.reviewed_at = clock.now()
        await review.save()
        await record_event(
            tx,
            topic=DOCUMENT_REVIEWED,
            marketplace_id=marketplace_id,
            object_type="Document",
            object_id=document.id,
            audience=[staff_audience(marketplace_id), f"membership:{membership.id}"],
            payload={"status": status.value, "membershipId": membership.id},
        )
        # The file's documentState may change: its screens refresh.
        await record_membership_event(tx, membership)
        tx.enqueue("notify_document_review", review_id=review.id)
    return document, review


async def reviews_of(actor: Actor, document_ids: list[int]) -> dict[int, DocumentReview]:
    """The acting marketplace's review of each document (the caller sees the documents)."""
    if actor.marketplace_id is None or not document_ids:
        return {}
    reviews = await DocumentReview.filter(
        marketplace_id=actor.marketplace_id, document_id__in=sorted(set(document_ids))
    )
    return {r.document_id: r for r in reviews}


async def notify_document_review(review_id: int) -> None:
    """Job: tell the provider company's users the marketplace's decision on a document."""
    review = await DocumentReview.get_or_none(id=review_id).select_related(
        "document__document_type", "document__company", "marketplace"
    )
    if review is None or review.document.company is None:
        return
    letter = document_review_letter(review)
    await send_letter(letter, await company_recipients(review.document.company))


def document_review_letter(review: DocumentReview) -> Letter:
    """The e-mail telling a provider that a document was approved, or rejected and why."""
    document, marketplace = review.document, review.marketplace.name
    what: Text | str = document.filename
    if document.document_type is not None:
        what = _("{label} ({filename})", label=Text(document.document_type.label), filename=what)
    if review.status is DocumentReviewStatus.APPROVED:
        return Letter(
            subject=_("{marketplace}: your document was approved", marketplace=marketplace),
            paragraphs=[
                _(
                    "{marketplace} approved your document {what}.",
                    marketplace=marketplace,
                    what=what,
                )
            ],
        )
    paragraphs: list[Paragraph] = [
        _("{marketplace} rejected your document {what}.", marketplace=marketplace, what=what),
        _(
            "Reason given by {marketplace}:\n{reason}",
            marketplace=marketplace,
            reason=review.reason,
        ),
        Link(f"{settings().public_url}/", _("Upload a new one from your Documents tab:")),
    ]
    return Letter(
        subject=_("{marketplace}: your document was rejected", marketplace=marketplace),
        paragraphs=paragraphs,
    )
