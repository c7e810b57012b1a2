"""Uploads: files checked on their bytes, stored, and filed as documents.

A refused file leaves nothing behind: checks run before anything is written, and a file
written for a transaction that fails is removed again.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import PurePath
from typing import Any

from models.document import Document, DocumentKind, DocumentType
from models.membership import Membership, MembershipStatus
from presta import clock, storage
from presta.i18n import _
from presta.settings import settings
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.document import DocumentErrorCode
from resolvers.errors import UserError, not_found


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """Bytes received from a client, read up to one byte past the size limit."""

    data: bytes
    filename: str


def check_file(upload: UploadedFile, *, field: str = "file") -> tuple[str, str]:
    """The sniffed content type and a safe file name, or a typed refusal."""
    limit = settings().max_upload_bytes
    if not upload.data:
        raise UserError(DocumentErrorCode.EMPTY_FILE, _("The file is empty."), field=field)
    if len(upload.data) > limit:
        raise UserError(
            DocumentErrorCode.FILE_TOO_LARGE,
            _("Files are limited to {limit} bytes.", limit=limit),
            field=field,
        )
    content_type = storage.sniff(upload.data)
    if content_type is None:
        raise UserError(
            DocumentErrorCode.UNSUPPORTED_TYPE,
            _("Only PDF, PNG and JPEG files are accepted."),
            field=field,
        )
    name = _safe_filename(upload.filename)
    suffix = PurePath(name).suffix.lower()
    allowed = storage.EXTENSIONS[content_type]
    if suffix and suffix not in allowed:
        raise UserError(
            DocumentErrorCode.TYPE_MISMATCH,
            _(
                "The file is {content_type} but its name ends with {suffix}.",
                content_type=content_type,
                suffix=suffix,
            ),
            field=field,
        )
    if not suffix:
        name = f"{name}{sorted(allowed)[0]}"
    return content_type, name


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\\"]+")


def _safe_filename(raw: str) -> str:
    base = PurePath(raw.replace("\\", "/")).name
    base = _UNSAFE.sub("_", unicodedata.normalize("NFC", base)).strip(" .")
    return base[-200:] or "document"


@contextlib.contextmanager
def staged(upload: UploadedFile, content_type: str) -> Iterator[storage.StoredFile]:
    """Store the bytes; remove them again if the block (the transaction) fails."""
    stored = storage.save(upload.data, content_type)
    try:
        yield stored
    except BaseException:
        storage.delete(stored.key)
        raise


def document_fields(stored: storage.StoredFile, filename: str) -> dict[str, Any]:
    return {
        "filename": filename,
        "content_type": stored.content_type,
        "size": stored.size,
        "sha256": stored.sha256,
        "storage_key": stored.key,
    }


async def upload_company_document(
    actor: Actor,
    *,
    document_type_id: int,
    upload: UploadedFile,
    title: str = "",
    valid_from: date | None = None,
    expires_on: date | None = None,
) -> Document:
    """A provider user files a document of its company; expiring types get an end date."""
    user_id = actor.require_user()
    actor.require_writer()
    if actor.company_id is None:
        raise not_found(_("Provider company"), field="documentTypeId")
    doc_type = await DocumentType.get_or_none(id=document_type_id)
    if doc_type is None:
        raise not_found(_("Document type"), field="documentTypeId")
    today = clock.now().date()
    valid_from = valid_from or today
    if doc_type.expires and expires_on is None:
        expires_on = valid_from + timedelta(days=doc_type.validity_days or 365)
    if expires_on is not None and expires_on <= max(valid_from, today):
        raise UserError(
            DocumentErrorCode.INVALID,
            _("The end of validity must be after the start and after today."),
            field="expiresOn",
        )
    content_type, filename = check_file(upload)
    with staged(upload, content_type) as stored:
        async with atomic():
            return await Document.create(
                kind=DocumentKind.COMPANY,
                company_id=actor.company_id,
                document_type=doc_type,
                title=clean_title(title, doc_type.label),
                valid_from=valid_from,
                expires_on=expires_on,
                uploaded_by_id=user_id,
                **document_fields(stored, filename),
            )


async def upload_contract(
    actor: Actor, *, membership_id: int, upload: UploadedFile, title: str = ""
) -> Document:
    """Staff file a contract for one provider of their marketplace."""
    marketplace_id = actor.require_staff()
    membership = (
        await Membership.filter(id=membership_id, marketplace_id=marketplace_id)
        .exclude(status=MembershipStatus.DELETED)
        .first()
    )
    if membership is None:
        raise not_found(_("Membership"), field="membershipId")
    content_type, filename = check_file(upload)
    with staged(upload, content_type) as stored:
        async with atomic():
            return await Document.create(
                kind=DocumentKind.CONTRACT,
                marketplace_id=marketplace_id,
                membership=membership,
                company_id=membership.company_id,
                title=clean_title(title, filename),
                uploaded_by_id=actor.user_id,
                **document_fields(stored, filename),
            )


async def upload_attachment(actor: Actor, *, upload: UploadedFile, title: str = "") -> Document:
    """Anyone acting in a marketplace files a document to attach to a message."""
    user_id = actor.require_user()
    marketplace_id = actor.require_marketplace()
    content_type, filename = check_file(upload)
    with staged(upload, content_type) as stored:
        async with atomic():
            return await Document.create(
                kind=DocumentKind.ATTACHMENT,
                marketplace_id=marketplace_id,
                company_id=actor.company_id,
                membership_id=actor.membership_id,
                title=clean_title(title, filename),
                uploaded_by_id=user_id,
                **document_fields(stored, filename),
            )


def clean_title(title: str, fallback: str) -> str:
    title = title.strip()
    if len(title) > 200:
        raise UserError(DocumentErrorCode.INVALID, _("Title is too long."), field="title")
    return title or fallback[:200]
