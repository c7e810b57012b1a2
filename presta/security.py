"""Password hashing, access tokens, opaque tokens and signed URLs."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

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
