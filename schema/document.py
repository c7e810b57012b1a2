"""Documents: the type catalogue, required documents, uploads and the Documents tab."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from models.document import Document as DocumentModel
from models.document import DocumentKind
from models.document import DocumentReviewStatus as DocumentReviewStatusModel
from models.document import DocumentType as DocumentTypeModel
from presta.i18n import _
from presta.settings import settings
from resolvers import document as use_cases
from resolvers import document_tab
from resolvers import document_upload as uploads
from resolvers.actor import Actor
from resolvers.errors import UserError
from schema.base import Mutations, UserErrorBase, decode_id, encode_id
from schema.context import Info
from schema.loaders import ReviewByDocumentLoader, loader
from schema.node import AuthorizedNode

strawberry.enum(use_cases.DocumentErrorCode, description="Why a document operation failed.")
strawberry.enum(
    DocumentKind,
    description="What a document is: COMPANY (filed by a provider for its company), CONTRACT "
    "(filed by staff for one provider), INVOICE (commission invoice), INTERNAL (a marketplace's "
    "guide or charter), TERMS (a version of the terms of use), ATTACHMENT (of a message).",
)
strawberry.enum(
    use_cases.DocumentState,
    description="Validity of a company document today: VALID, EXPIRING_SOON (ends within 30 "
    "days), EXPIRED, or MISSING (a required type with no document).",
)


@strawberry.type(description="A failure of a document operation.")
class DocumentError(UserErrorBase):
    code: use_cases.DocumentErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="A kind of company document from the platform catalogue.")
class DocumentType(AuthorizedNode):
    id: relay.NodeID[int]
    code: str = strawberry.field(description="Stable short code, e.g. KBIS, RC_PRO, URSSAF.")
    label: str = strawberry.field(description="Human-readable name.")
    expires: bool = strawberry.field(description="Documents of this type have an end of validity.")
    validity_days: int | None = strawberry.field(
        description="Days a document stays valid when no end date is given; null if it never ends."
    )

    @classmethod
    def from_model(cls, t: DocumentTypeModel) -> DocumentType:
        return cls(
            id=t.id, code=t.code, label=t.label, expires=t.expires, validity_days=t.validity_days
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        found = await use_cases.visible_document_types(actor, ids)
        return {i: cls.from_model(t) for i, t in found.items()}


strawberry.enum(
    DocumentReviewStatusModel, description="A marketplace staff's decision on a document."
)


@strawberry.type(description="A marketplace staff's latest decision on a company document.")
class DocumentReview:
    status: DocumentReviewStatusModel = strawberry.field(description="Approved or rejected.")
    reason: str = strawberry.field(description="Why it was rejected (empty when approved).")
    reviewed_at: datetime = strawberry.field(description="When the decision was taken.")


@strawberry.type(description="A stored file: company document, contract, invoice, guide, terms.")
class Document(AuthorizedNode):
    id: relay.NodeID[int]
    kind: DocumentKind = strawberry.field(description="What the document is.")
    title: str = strawberry.field(description="Title shown in lists.")
    filename: str = strawberry.field(description="File name offered when downloading.")
    content_type: str = strawberry.field(
        description="Type detected from the file's bytes: application/pdf, image/png, image/jpeg."
    )
    size: int = strawberry.field(description="Size in bytes.")
    sha256: str = strawberry.field(description="SHA-256 of the bytes, hexadecimal.")
    valid_from: date | None = strawberry.field(description="Start of validity (company documents).")
    expires_on: date | None = strawberry.field(
        description="The document is valid until the day before this date; null: no end."
    )
    created_at: datetime = strawberry.field(description="When it was filed.")
    document_type_id: relay.GlobalID | None = strawberry.field(
        description="Its type in the catalogue (company documents)."
    )
    model: strawberry.Private[DocumentModel]
    public_link: strawberry.Private[bool] = False

    @strawberry.field(
        description="Validity today by its dates (meaningful for company documents); whether "
        "the marketplace rejected it is in `review`."
    )
    def state(self) -> use_cases.DocumentState:
        return use_cases.state_of(self.model)

    @strawberry.field(
        description="Company documents: the acting marketplace's review (`approveDocument`, "
        "`rejectDocument`); null while not reviewed (it counts as filed)."
    )
    async def review(self, info: Info) -> DocumentReview | None:
        if self.kind is not DocumentKind.COMPANY:
            return None
        found = await loader(info, ReviewByDocumentLoader).load(self.model.id)
        if found is None:
            return None
        return DocumentReview(
            status=found.status, reason=found.reason, reviewed_at=found.reviewed_at
        )

    @strawberry.field(
        description="A link to download the file, for the viewer only, valid a few minutes "
        "(see `downloadUrlExpiresInSeconds`). Anyone else following it gets a 404."
    )
    def download_url(self, info: Info) -> str:
        if self.public_link:
            return use_cases.public_download_url(self.model)
        return use_cases.download_url(info.context.actor, self.model)

    @strawberry.field(description="Seconds for which `downloadUrl` stays valid.")
    def download_url_expires_in_seconds(self) -> int:
        return settings().download_url_ttl_seconds

    @classmethod
    def from_model(cls, d: DocumentModel, *, public_link: bool = False) -> Document:
        type_id = d.document_type_id
        return cls(
            id=d.id,
            kind=d.kind,
            title=d.title,
            filename=d.filename,
            content_type=d.content_type,
            size=d.size,
            sha256=d.sha256,
            valid_from=d.valid_from,
            expires_on=d.expires_on,
            created_at=d.created_at,
            document_type_id=encode_id("DocumentType", type_id) if type_id else None,
            model=d,
            public_link=public_link,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        found = await use_cases.visible_documents(actor, ids)
        return {i: cls.from_model(d) for i, d in found.items()}


@strawberry.type(description="One document type in a provider's file: required or not, state.")
class CompanyDocumentStatus:
    document_type: DocumentType = strawberry.field(description="The type.")
    required: bool = strawberry.field(description="The marketplace requires this type.")
    state: use_cases.DocumentState = strawberry.field(
        description="State of the best current document; MISSING when none is filed."
    )
    current: Document | None = strawberry.field(
        description="The document that keeps this type valid the longest, if any."
    )
    documents: list[Document] = strawberry.field(
        description="Every document of this type the company filed, newest first."
    )


@strawberry.type(description="A provider's acceptance of a version of the terms of use.")
class TermsAcceptanceRecord:
    version: int = strawberry.field(description="Number of the version accepted.")
    accepted_at: datetime = strawberry.field(description="When it was accepted.")
    accepted_by: str | None = strawberry.field(
        description="Name (or e-mail) of the provider's user who accepted."
    )


@strawberry.type(description="The Documents tab of a provider's file for one marketplace.")
class MembershipDocuments:
    membership_id: relay.GlobalID = strawberry.field(description="The membership (Membership).")
    internal_documents: list[Document] = strawberry.field(
        description="The marketplace's internal documents (guide, charter)."
    )
    terms_version: int | None = strawberry.field(
        description="Number of the current terms of use; null when none is published."
    )
    terms_version_accepted: int | None = strawberry.field(
        description="Number of the version this provider last accepted."
    )
    terms_acceptances: list[TermsAcceptanceRecord] = strawberry.field(
        description="Every acceptance of the terms by this provider, newest first."
    )
    company_documents: list[CompanyDocumentStatus] = strawberry.field(
        description="Required types first (MISSING when absent), then other filed types."
    )
    contracts: list[Document] = strawberry.field(description="Contracts filed by staff.")
    invoices: list[Document] = strawberry.field(description="Commission invoices, newest first.")


def _tab(result: document_tab.MembershipDocuments) -> MembershipDocuments:
    return MembershipDocuments(
        membership_id=encode_id("Membership", result.membership.id),
        internal_documents=[Document.from_model(d) for d in result.internal_documents],
        terms_version=result.terms.number if result.terms else None,
        terms_version_accepted=result.membership.terms_version_accepted,
        terms_acceptances=[
            TermsAcceptanceRecord(
                version=a.version.number,
                accepted_at=a.accepted_at,
                accepted_by=(a.user.full_name or a.user.email) if a.user else None,
            )
            for a in result.terms_acceptances
        ],
        company_documents=[
            CompanyDocumentStatus(
                document_type=DocumentType.from_model(s.document_type),
                required=s.required,
                state=s.state,
                current=Document.from_model(s.current) if s.current else None,
                documents=[Document.from_model(d) for d in s.documents],
            )
            for s in result.company_documents
        ],
        contracts=[Document.from_model(d) for d in result.contracts],
        invoices=[Document.from_model(d) for d in result.invoices],
    )


async def read_upload(file: Any) -> uploads.UploadedFile:
    """Read at most one byte past the limit: enough to refuse an oversized file."""
    limit = settings().max_upload_bytes
    data = await file.read(limit + 1)
    return uploads.UploadedFile(data=data, filename=getattr(file, "filename", None) or "")


# --- inputs and payloads -------------------------------------------------------------------


@strawberry.input(description="The document types applicants of the marketplace must provide.")
class SetRequiredDocumentTypesInput:
    document_type_ids: list[relay.GlobalID] = strawberry.field(
        description="The full list (DocumentType IDs); types not listed are no longer required."
    )


@strawberry.type(description="Result of setRequiredDocumentTypes.")
class SetRequiredDocumentTypesPayload:
    user_errors: list[DocumentError] = strawberry.field(description="Expected failures.")
    required_document_types: list[DocumentType] | None = strawberry.field(
        default=None, description="The types now required."
    )


@strawberry.input(
    description="A file sent with the GraphQL multipart request spec. A provider files a "
    "company document (give `documentTypeId`); staff file a contract (give `membershipId`); "
    "anyone files a message attachment (give `forMessage: true`)."
)
class UploadDocumentInput:
    file: Upload = strawberry.field(
        description="PDF, PNG or JPEG, checked on its bytes; its name must not claim another type."
    )
    document_type_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Provider: the type of the company document (DocumentType)."
    )
    membership_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Staff: the provider (Membership) the contract is for."
    )
    for_message: bool = strawberry.field(
        default=False,
        description="File an attachment for a message (then attach it with sendMessage); "
        "open to anyone acting in the marketplace.",
    )
    title: str = strawberry.field(default="", description="Title; defaults to the type's label.")
    valid_from: date | None = strawberry.field(
        default=None, description="Start of validity; defaults to today."
    )
    expires_on: date | None = strawberry.field(
        default=None,
        description="End of validity; for expiring types defaults to validFrom plus the "
        "type's validity.",
    )


@strawberry.type(description="Result of uploadDocument.")
class UploadDocumentPayload:
    user_errors: list[DocumentError] = strawberry.field(description="Expected failures.")
    document: Document | None = strawberry.field(default=None, description="The filed document.")


async def _set_required(actor: Actor, data: SetRequiredDocumentTypesInput) -> dict[str, Any]:
    ids = [decode_id(g, "DocumentType", field="documentTypeIds") for g in data.document_type_ids]
    types = await use_cases.set_required_document_types(actor, document_type_ids=ids)
    return {"required_document_types": [DocumentType.from_model(t) for t in types]}


async def _upload(actor: Actor, data: UploadDocumentInput) -> dict[str, Any]:
    upload = await read_upload(data.file)
    if data.for_message:
        if data.membership_id is not None or data.document_type_id is not None:
            raise UserError(
                use_cases.DocumentErrorCode.INVALID,
                _("An attachment takes neither documentTypeId nor membershipId."),
                field="forMessage",
            )
        document = await uploads.upload_attachment(actor, upload=upload, title=data.title)
    elif data.membership_id is not None:
        if data.document_type_id is not None:
            raise UserError(
                use_cases.DocumentErrorCode.INVALID,
                _("Give documentTypeId or membershipId, not both."),
                field="membershipId",
            )
        document = await uploads.upload_contract(
            actor,
            membership_id=decode_id(data.membership_id, "Membership", field="membershipId"),
            upload=upload,
            title=data.title,
        )
    elif data.document_type_id is not None:
        document = await uploads.upload_company_document(
            actor,
            document_type_id=decode_id(
                data.document_type_id, "DocumentType", field="documentTypeId"
            ),
            upload=upload,
            title=data.title,
            valid_from=data.valid_from,
            expires_on=data.expires_on,
        )
    else:
        raise UserError(
            use_cases.DocumentErrorCode.INVALID,
            _("Give documentTypeId (company document) or membershipId (contract)."),
            field="documentTypeId",
        )
    return {"document": Document.from_model(document)}


_run = Mutations(DocumentError, use_cases.DocumentErrorCode)


@strawberry.type
class DocumentMutation:
    @strawberry.mutation(description="ADMIN: set the document types applicants must provide.")
    async def set_required_document_types(
        self, info: Info, input: SetRequiredDocumentTypesInput
    ) -> SetRequiredDocumentTypesPayload:
        return await _run(SetRequiredDocumentTypesPayload, _set_required(info.context.actor, input))

    @strawberry.mutation(
        description="File a document (multipart request): a provider's company document or a "
        "staff contract. Empty, oversized, unsupported or renamed files are refused and nothing "
        "is kept."
    )
    async def upload_document(
        self, info: Info, input: UploadDocumentInput
    ) -> UploadDocumentPayload:
        return await _run(UploadDocumentPayload, _upload(info.context.actor, input))


@strawberry.type
class DocumentQuery:
    @strawberry.field(description="The platform's catalogue of company document types.")
    async def document_types(self, info: Info) -> list[DocumentType]:
        types = await use_cases.list_document_types(info.context.actor)
        return [DocumentType.from_model(t) for t in types]

    @strawberry.field(description="Document types the acting marketplace requires of applicants.")
    async def required_document_types(self, info: Info) -> list[DocumentType]:
        types = await use_cases.required_document_types(info.context.actor)
        return [DocumentType.from_model(t) for t in types]

    @strawberry.field(
        description="The Documents tab of a provider's file: internal documents, company "
        "documents with their state, contracts and invoices. For the marketplace's staff and "
        "for the provider itself; null when not visible."
    )
    async def membership_documents(
        self,
        info: Info,
        membership_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The membership (Membership).")
        ],
    ) -> MembershipDocuments | None:
        actor = info.context.actor
        try:
            mid = decode_id(membership_id, "Membership", field="membershipId")
            return _tab(await document_tab.membership_documents(actor, mid))
        except UserError:
            return None
