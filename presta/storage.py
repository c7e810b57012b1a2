"""Stored files: bytes under the storage directory with generated names, and signed links.

A file's type is decided from its first bytes, never from its name or the declared type.
Download links are capabilities: they carry who may download, what, and until when, signed
with the secret key; the file route re-checks that access still holds before serving.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from presta import clock
from presta.security import sign, verify_signature
from presta.settings import settings

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"

_SIGNATURES = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
)

# Extensions a file name may carry for each type; other extensions are refused as a mismatch.
EXTENSIONS = {PDF: {".pdf"}, PNG: {".png"}, JPEG: {".jpg", ".jpeg"}}


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are, among the allowed ones; None otherwise."""
    for magic, content_type in _SIGNATURES:
        if data.startswith(magic):
            return content_type
    return None


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    size: int
    sha256: str
    content_type: str


def _root() -> Path:
    return Path(settings().storage_dir)


def path_of(key: str) -> Path:
    if not key.isalnum():
        raise ValueError("malformed storage key")
    return _root() / key[:2] / key


def save(data: bytes, content_type: str) -> StoredFile:
    """Write the bytes under a fresh random name; the file appears complete or not at all."""
    key = secrets.token_hex(24)
    target = path_of(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{key}.part")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, target)
    return StoredFile(
        key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(), content_type=content_type
    )


def delete(key: str) -> None:
    path_of(key).unlink(missing_ok=True)


def exists(key: str) -> bool:
    return path_of(key).is_file()


@dataclass(frozen=True, slots=True)
class Grant:
    """Who a download link was issued to, for which document, until when (epoch seconds)."""

    document_id: int
    marketplace_id: int | None
    user_id: int | None
    api_key_id: int | None
    expires_at: int


def make_download_token(grant: Grant) -> str:
    claims = {
        "d": grant.document_id,
        "m": grant.marketplace_id,
        "u": grant.user_id,
        "k": grant.api_key_id,
        "e": grant.expires_at,
    }
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode())
    text = body.decode().rstrip("=")
    return f"{text}.{sign('download:' + text)}"


def read_download_token(token: str) -> Grant | None:
    """The grant of a well-signed, unexpired token; None for anything else."""
    text, _, signature = token.partition(".")
    if not text or not signature or not verify_signature("download:" + text, signature):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        grant = Grant(
            document_id=int(claims["d"]),
            marketplace_id=_opt_int(claims["m"]),
            user_id=_opt_int(claims["u"]),
            api_key_id=_opt_int(claims["k"]),
            expires_at=int(claims["e"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if grant.expires_at <= int(clock.now().timestamp()):
        return None
    return grant


def _opt_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
