"""Documents: file bytes of each kind, catalogue types, filed documents and terms."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from models.document import Document, DocumentKind, DocumentType, RequiredDocumentType
from models.marketplace import Marketplace
from models.membership import ProviderCompany
from models.terms import TermsVersion
from presta import clock, storage
from resolvers.document import ensure_document_types

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40
HTML_BYTES = b"<!doctype html><html><script>alert(1)</script></html>"


async def document_type(code: str) -> DocumentType:
    await ensure_document_types()
    return await DocumentType.get(code=code)


async def require_types(marketplace: Marketplace, *codes: str) -> list[DocumentType]:
    types = [await document_type(code) for code in codes]
    for t in types:
        await RequiredDocumentType.get_or_create(marketplace=marketplace, document_type=t)
    return types


async def make_company_document(
    company: ProviderCompany,
    code: str,
    *,
    expires_on: date | None = None,
    data: bytes = PDF_BYTES,
) -> Document:
    """A company document filed directly (bytes stored like a real upload)."""
    doc_type = await document_type(code)
    stored = storage.save(data, storage.sniff(data) or storage.PDF)
    return await Document.create(
        kind=DocumentKind.COMPANY,
        company=company,
        document_type=doc_type,
        title=doc_type.label,
        filename=f"{code.lower()}.pdf",
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
        valid_from=clock.now().date(),
        expires_on=expires_on,
    )


async def publish_terms(marketplace: Marketplace, text: str = "Be nice.") -> TermsVersion:
    latest = await TermsVersion.filter(marketplace=marketplace).order_by("-number").first()
    return await TermsVersion.create(
        marketplace=marketplace,
        number=(latest.number if latest else 0) + 1,
        text=text,
        published_at=clock.now(),
    )


def stored_files() -> list[str]:
    """Every file under the storage directory (to prove a refusal left nothing behind)."""
    root = storage.path_of("aa").parent.parent
    return sorted(p.name for p in root.rglob("*") if p.is_file())


UPLOAD = """
mutation Upload($input: UploadDocumentInput!) {
  uploadDocument(input: $input) {
    userErrors { field code message }
    document {
      id kind title filename contentType size sha256 validFrom expiresOn state downloadUrl
    }
  }
}
"""


def type_id(t: DocumentType) -> str:
    """The global id of a document type, as the API takes it."""
    from schema.base import encode_id

    return str(encode_id("DocumentType", t.id))


def multipart(
    query: str, variables: dict[str, Any], files: dict[str, tuple[str, bytes, str]]
) -> dict[str, Any]:
    """An httpx request body following the GraphQL multipart request spec.

    ``files`` maps a variable path (``input.file``) to ``(filename, bytes, declared type)``.
    """
    import json

    names = {str(i): path for i, path in enumerate(files)}
    return {
        "data": {
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps({n: [f"variables.{p}"] for n, p in names.items()}),
        },
        "files": {n: (files[p][0], io.BytesIO(files[p][1]), files[p][2]) for n, p in names.items()},
    }


def auth_headers(user, marketplace) -> dict[str, str]:
    from presta.security import make_access_token

    token, _ = make_access_token(user.id)
    # Uploads are multipart: the API refuses them without a preflight-forcing header (CSRF).
    return {
        "Authorization": f"Bearer {token}",
        "X-Marketplace": marketplace.slug,
        "Apollo-Require-Preflight": "true",
    }


async def post_multipart(
    client: Any,
    user: Any,
    marketplace: Any,
    query: str,
    variables: dict[str, Any],
    files: dict[str, tuple[str, bytes, str]],
) -> Any:
    """POST a multipart GraphQL request as ``user``; the JSON body, top-level errors included."""
    body = multipart(query, variables, files)
    response = await client.post("/graphql", headers=auth_headers(user, marketplace), **body)
    assert response.status_code == 200, response.text
    return response.json()
