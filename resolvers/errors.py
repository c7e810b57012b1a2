"""Errors raised by use cases.

``UserError`` is an expected failure the client can act on: the schema turns it into a
``userErrors`` entry of the mutation payload. Its ``code`` is a member of the domain's code
enum; every domain enum has ``NOT_FOUND`` and ``INVALID``, so a use case may raise those from
``CommonCode`` and the schema maps them by value.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class CommonCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"


class UserError(Exception):
    def __init__(self, code: StrEnum, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class UserErrors(Exception):
    """Several user errors at once (e.g. every invalid field of an input)."""

    def __init__(self, errors: Iterable[UserError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(e.message for e in self.errors))


def not_found(what: str, *, field: str | None = "id") -> UserError:
    """Denials look exactly like this: the caller cannot tell 'forbidden' from 'absent'."""
    return UserError(CommonCode.NOT_FOUND, f"{what} not found.", field=field)


class AuthError(Exception):
    """Authentication/authorization failure surfaced as a top-level GraphQL error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def unauthenticated(message: str = "Authentication required.") -> AuthError:
    return AuthError("UNAUTHENTICATED", message)


def forbidden(message: str = "Not allowed.") -> AuthError:
    return AuthError("FORBIDDEN", message)


def marketplace_not_found(*, anonymous: bool = False) -> AuthError:
    """The same refusal whether the named marketplace does not exist or the caller has no role
    in it: an outsider cannot tell which marketplaces exist."""
    if anonymous:
        return AuthError(
            "MARKETPLACE_NOT_FOUND",
            "X-Marketplace needs a signed-in caller with a role there (or an API key of it).",
        )
    return AuthError("MARKETPLACE_NOT_FOUND", "X-Marketplace names no marketplace you may act in.")
