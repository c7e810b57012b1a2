"""GraphQL of document reviews: staff approve or reject a provider's company document."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay

from resolvers import document as documents
from resolvers import document_review as use_cases
from resolvers.actor import Actor
from schema.base import Mutations, decode_id
from schema.context import Info
from schema.document import Document, DocumentError


@strawberry.input(description="A company document to approve for the acting marketplace.")
class ApproveDocumentInput:
    id: relay.GlobalID = strawberry.field(description="The company document (Document).")


@strawberry.input(description="A company document to reject, and why.")
class RejectDocumentInput:
    id: relay.GlobalID = strawberry.field(description="The company document (Document).")
    reason: str = strawberry.field(
        description="Why, 1 to 2000 characters; the provider receives it by e-mail."
    )


@strawberry.type(description="Result of approveDocument or rejectDocument.")
class ReviewDocumentPayload:
    user_errors: list[DocumentError] = strawberry.field(description="Expected failures.")
    document: Document | None = strawberry.field(
        default=None, description="The reviewed document (its `review` tells the decision)."
    )


async def _approve(actor: Actor, data: ApproveDocumentInput) -> dict[str, Any]:
    document, _review = await use_cases.approve_document(
        actor, document_id=decode_id(data.id, "Document")
    )
    return {"document": Document.from_model(document)}


async def _reject(actor: Actor, data: RejectDocumentInput) -> dict[str, Any]:
    document, _review = await use_cases.reject_document(
        actor, document_id=decode_id(data.id, "Document"), reason=data.reason
    )
    return {"document": Document.from_model(document)}


_review = Mutations(DocumentError, documents.DocumentErrorCode)


@strawberry.type
class DocumentReviewMutation:
    @strawberry.mutation(
        description="Staff: approve a company document of one of the marketplace's providers "
        "(for this marketplace); the provider is told by e-mail. Staff may change their mind."
    )
    async def approve_document(
        self, info: Info, input: ApproveDocumentInput
    ) -> ReviewDocumentPayload:
        return await _review(ReviewDocumentPayload, _approve(info.context.actor, input))

    @strawberry.mutation(
        description="Staff: reject a company document with a reason, for this marketplace; the "
        "provider is told by e-mail, and its file counts the document's type as `REJECTED` "
        "until a new document of that type is filed (an application cannot be submitted "
        "with it)."
    )
    async def reject_document(
        self, info: Info, input: RejectDocumentInput
    ) -> ReviewDocumentPayload:
        return await _review(ReviewDocumentPayload, _reject(info.context.actor, input))
