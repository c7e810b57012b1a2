"""Terms of use and internal documents of a marketplace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from models.terms import TermsVersion as TermsVersionModel
from resolvers import terms as use_cases
from resolvers.actor import Actor
from schema.base import Mutations, UserErrorBase, decode_id, encode_id
from schema.context import Info
from schema.document import Document, read_upload
from schema.node import AuthorizedNode

strawberry.enum(
    use_cases.TermsErrorCode, description="Why a terms or internal-document operation failed."
)


@strawberry.type(description="A failure of a terms-of-use or internal-document operation.")
class TermsError(UserErrorBase):
    code: use_cases.TermsErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="One published version of a marketplace's terms of use.")
class TermsOfUse(AuthorizedNode):
    id: relay.NodeID[int]
    number: int = strawberry.field(description="Version number, from 1, without gaps.")
    text: str = strawberry.field(description="The terms as text (may be empty with a file).")
    document: Document | None = strawberry.field(description="The terms as a file, if given.")
    published_at: datetime = strawberry.field(description="When this version was published.")

    @classmethod
    def from_model(cls, v: TermsVersionModel, *, public_link: bool = False) -> TermsOfUse:
        doc = v.document
        return cls(
            id=v.id,
            number=v.number,
            text=v.text,
            document=Document.from_model(doc, public_link=public_link) if doc else None,
            published_at=v.published_at,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        found = await use_cases.visible_terms_versions(actor, ids)
        return {v.id: cls.from_model(v) for v in found}


@strawberry.type(description="Who accepted which version of the terms, and when.")
class TermsAcceptance:
    membership_id: relay.GlobalID = strawberry.field(description="The membership (Membership).")
    version: int = strawberry.field(description="Number of the version accepted.")
    accepted_at: datetime = strawberry.field(description="When it was accepted.")
    accepted_by_id: relay.GlobalID | None = strawberry.field(
        description="The user who accepted (User)."
    )


@strawberry.input(description="A new version of the acting marketplace's terms of use.")
class PublishTermsOfUseInput:
    text: str = strawberry.field(default="", description="The terms as text.")
    file: Upload | None = strawberry.field(
        default=None, description="The terms as a PDF (multipart request); text or file needed."
    )


@strawberry.type(description="Result of publishTermsOfUse.")
class PublishTermsOfUsePayload:
    user_errors: list[TermsError] = strawberry.field(description="Expected failures.")
    terms_of_use: TermsOfUse | None = strawberry.field(
        default=None, description="The new current version."
    )


@strawberry.input(description="Accept the current terms of use of the acting marketplace.")
class AcceptTermsOfUseInput:
    version: int | None = strawberry.field(
        default=None,
        description="The version number the user read; refused with TERMS_OUTDATED when a "
        "newer one was published meanwhile.",
    )


@strawberry.type(description="Result of acceptTermsOfUse.")
class AcceptTermsOfUsePayload:
    user_errors: list[TermsError] = strawberry.field(description="Expected failures.")
    acceptance: TermsAcceptance | None = strawberry.field(
        default=None, description="The acceptance on record."
    )


@strawberry.input(description="A guide, charter or other document for the marketplace's providers.")
class AddInternalDocumentInput:
    title: str = strawberry.field(description="Title shown to providers.")
    file: Upload = strawberry.field(description="PDF, PNG or JPEG (multipart request).")


@strawberry.type(description="Result of addInternalDocument.")
class AddInternalDocumentPayload:
    user_errors: list[TermsError] = strawberry.field(description="Expected failures.")
    document: Document | None = strawberry.field(default=None, description="The new document.")


@strawberry.input(description="Withdraw an internal document.")
class RemoveInternalDocumentInput:
    document_id: relay.GlobalID = strawberry.field(description="The document (Document).")


@strawberry.type(description="Result of removeInternalDocument.")
class RemoveInternalDocumentPayload:
    user_errors: list[TermsError] = strawberry.field(description="Expected failures.")
    document_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The withdrawn document."
    )


async def _publish(actor: Actor, data: PublishTermsOfUseInput) -> dict[str, Any]:
    upload = await read_upload(data.file) if data.file is not None else None
    version = await use_cases.publish_terms_of_use(actor, text=data.text, upload=upload)
    return {"terms_of_use": TermsOfUse.from_model(version)}


async def _accept(actor: Actor, data: AcceptTermsOfUseInput) -> dict[str, Any]:
    a = await use_cases.accept_terms_of_use(actor, number=data.version)
    return {
        "acceptance": TermsAcceptance(
            membership_id=encode_id("Membership", a.membership_id),
            version=a.version.number,
            accepted_at=a.accepted_at,
            accepted_by_id=encode_id("User", a.user_id) if a.user_id else None,
        )
    }


async def _add(actor: Actor, data: AddInternalDocumentInput) -> dict[str, Any]:
    upload = await read_upload(data.file)
    document = await use_cases.add_internal_document(actor, title=data.title, upload=upload)
    return {"document": Document.from_model(document)}


async def _remove(actor: Actor, data: RemoveInternalDocumentInput) -> dict[str, Any]:
    doc_id = decode_id(data.document_id, "Document", field="documentId")
    document = await use_cases.remove_internal_document(actor, document_id=doc_id)
    return {"document_id": encode_id("Document", document.id)}


_run = Mutations(TermsError, use_cases.TermsErrorCode)


@strawberry.type
class TermsMutation:
    @strawberry.mutation(
        description="ADMIN: publish a new version of the terms of use (text or file); every "
        "provider must accept it again."
    )
    async def publish_terms_of_use(
        self, info: Info, input: PublishTermsOfUseInput
    ) -> PublishTermsOfUsePayload:
        return await _run(PublishTermsOfUsePayload, _publish(info.context.actor, input))

    @strawberry.mutation(
        description="Provider: accept the current terms of use; records who, which and when."
    )
    async def accept_terms_of_use(
        self, info: Info, input: AcceptTermsOfUseInput
    ) -> AcceptTermsOfUsePayload:
        return await _run(AcceptTermsOfUsePayload, _accept(info.context.actor, input))

    @strawberry.mutation(description="ADMIN: add an internal document for providers.")
    async def add_internal_document(
        self, info: Info, input: AddInternalDocumentInput
    ) -> AddInternalDocumentPayload:
        return await _run(AddInternalDocumentPayload, _add(info.context.actor, input))

    @strawberry.mutation(description="ADMIN: withdraw an internal document.")
    async def remove_internal_document(
        self, info: Info, input: RemoveInternalDocumentInput
    ) -> RemoveInternalDocumentPayload:
        return await _run(RemoveInternalDocumentPayload, _remove(info.context.actor, input))


@strawberry.type
class TermsQuery:
    @strawberry.field(
        description="The current terms of use of the acting marketplace (staff and providers); "
        "null when none is published."
    )
    async def terms_of_use(self, info: Info) -> TermsOfUse | None:
        version = await use_cases.terms_of_use(info.context.actor)
        return TermsOfUse.from_model(version) if version else None

    @strawberry.field(description="Staff: every published version of the terms, newest first.")
    async def terms_of_use_versions(self, info: Info) -> list[TermsOfUse]:
        return [
            TermsOfUse.from_model(v) for v in await use_cases.terms_versions(info.context.actor)
        ]

    @strawberry.field(
        description="The internal documents of the acting marketplace (staff and providers)."
    )
    async def internal_documents(self, info: Info) -> list[Document]:
        docs = await use_cases.internal_documents(info.context.actor)
        return [Document.from_model(d) for d in docs]
