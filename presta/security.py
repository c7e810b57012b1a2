"""Password hashing, access tokens, opaque tokens, signed URLs and sealed secrets."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from presta import clock
from presta.settings import settings

_ALGORITHM = "HS256"


@functools.cache
def _hasher(time_cost: int, memory_cost: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)


def _current_hasher() -> PasswordHasher:
    cfg = settings()
    if cfg.environment == "test":
        # Tests create hundreds of users; production cost would dominate the suite.
        return _hasher(1, 1024)
    return _hasher(3, 64 * 1024)


def hash_password(password: str) -> str:
    return _current_hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _current_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A fixed hash so that logging in with an unknown e-mail costs the same as a wrong password.
def dummy_verify(password: str) -> None:
    verify_password(_dummy_hash(), password)


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def make_access_token(user_id: int) -> tuple[str, int]:
    ttl = settings().access_token_ttl_seconds
    issued = clock.now()
    claims = {
        "sub": str(user_id),
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl)).timestamp()),
        "typ": "access",
    }
    return jwt.encode(claims, settings().secret_key, algorithm=_ALGORITHM), ttl


class TokenError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_access_token(token: str) -> int:
    user_id, expires = _verified_access_token(token, settings().secret_key)
    # Expiry is checked against our clock, which tests can move, on every request.
    if expires <= int(clock.now().timestamp()):
        raise TokenError("expired")
    return user_id


# A client sends the same token with every request until it expires, and checking its
# signature cost more than the rest of authentication. The outcome depends on the token and
# the key only; the key is part of the cache key, so a new key takes effect at once. Only
# tokens we signed are kept (a refusal raises), so strangers cannot fill the cache.
@functools.lru_cache(maxsize=4096)
def _verified_access_token(token: str, secret_key: str) -> tuple[int, int]:
    """(user id, expiry) of a well-signed access token."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret_key,
            algorithms=[_ALGORITHM],
            # Times are checked against our clock (tests move it), not the wall clock.
            options={"verify_exp": False, "verify_iat": False, "require": ["sub", "exp", "typ"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenError("invalid") from exc
    if claims.get("typ") != "access":
        raise TokenError("invalid")
    return int(claims["sub"]), int(claims["exp"])


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def sign(value: str) -> str:
    digest = hmac.new(settings().secret_key.encode(), value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def verify_signature(value: str, signature: str) -> bool:
    return hmac.compare_digest(sign(value), signature)


_SEALED = "v1:"


class Vault:
    """What a secret its owner presents (and we never store) opens, with the server secret.

    Three keys are derived (HKDF-SHA256) from the server secret and the owner's secret, under
    a ``purpose`` (the salt) and the ``owner``'s name (the info): ``lookup``, a name for the
    owner's row that reveals neither; ``mac``, a keyed fingerprint, so that a database dump
    cannot be used to test guesses of what was fingerprinted; and ``seal``, AES-GCM bound to
    ``lookup``, so that a sealed value copied into another row does not open there. Changing
    the purpose or the server secret orphans everything sealed before.
    """

    __slots__ = ("_aead", "_mac_key", "lookup")

    def __init__(self, *, purpose: bytes, owner: str, secret: str) -> None:
        server = settings().secret_key.encode()
        material = len(server).to_bytes(4, "big") + server + secret.encode()
        okm = HKDF(algorithm=hashes.SHA256(), length=96, salt=purpose, info=owner.encode()).derive(
            material
        )
        self.lookup = okm[:32].hex()
        self._mac_key = okm[32:64]
        self._aead = AESGCM(okm[64:])

    def mac(self, data: bytes) -> str:
        """HMAC-SHA256 of ``data``, hex."""
        return hmac.new(self._mac_key, data, hashlib.sha256).hexdigest()

    def seal(self, plaintext: bytes) -> str:
        """``v1:`` + base64(nonce + AES-GCM ciphertext), text for a database column."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, self.lookup.encode())
        return _SEALED + base64.b64encode(nonce + sealed).decode()

    def unseal(self, stored: str) -> bytes | None:
        """The plaintext, or None when ``stored`` was not sealed by this vault (or was altered)."""
        if not stored.startswith(_SEALED):
            return None
        try:
            blob = base64.b64decode(stored.removeprefix(_SEALED), validate=True)
            return self._aead.decrypt(blob[:12], blob[12:], self.lookup.encode())
        except (InvalidTag, ValueError):
            return None
