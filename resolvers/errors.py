"""Errors raised by use cases.

``UserError`` is an expected failure the client can act on: the schema turns it into a
``userErrors`` entry of the mutation payload. Its ``code`` is a member of the domain's code
enum; every domain enum has ``NOT_FOUND`` and ``INVALID``, so a use case may raise those from
``CommonCode`` and the schema maps them by value.

Messages are translatable texts (``presta.i18n._``): the caller reads them in their language
(``str(error)`` and ``error.message`` render in the operation's locale).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from presta.i18n import Text, _


class CommonCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"


class UserError(Exception):
    def __init__(self, code: StrEnum, message: Text, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.text = message
        self.field = field

    @property
    def message(self) -> str:
        """The message in the current locale (``presta.i18n.current_locale``)."""
        return str(self.text)

    def __str__(self) -> str:
        return self.message


class UserErrors(Exception):
    """Several user errors at once (e.g. every invalid field of an input)."""

    def __init__(self, errors: Iterable[UserError]) -> None:
        self.errors = list(errors)
        super().__init__(len(self.errors))

    def __str__(self) -> str:
        return "; ".join(e.message for e in self.errors)


def not_found(what: Text, *, field: str | None = "id") -> UserError:
    """Denials look exactly like this: the caller cannot tell 'forbidden' from 'absent'."""
    return UserError(CommonCode.NOT_FOUND, _("{what} not found.", what=what), field=field)


class AuthError(Exception):
    """Authentication/authorization failure surfaced as a top-level GraphQL error. Its text
    is read in the locale current when it is rendered (``str``): the caller's, inside an
    operation; ``render`` for a refusal answered before one."""

    def __init__(self, code: str, message: Text) -> None:
        super().__init__(message)
        self.code = code
        self.text = message

    def render(self, locale: str) -> str:
        return self.text.render(locale)


def unauthenticated(message: Text | None = None) -> AuthError:
    return AuthError("UNAUTHENTICATED", message or _("Authentication required."))


def forbidden(message: Text | None = None) -> AuthError:
    return AuthError("FORBIDDEN", message or _("Not allowed."))


def marketplace_not_found(*, anonymous: bool = False) -> AuthError:
    """The same refusal whether the named marketplace does not exist or the caller has no role
    in it: an outsider cannot tell which marketplaces exist."""
    if anonymous:
        return AuthError(
            "MARKETPLACE_NOT_FOUND",
            _("X-Marketplace needs a signed-in caller with a role there (or an API key of it)."),
        )
    return AuthError(
        "MARKETPLACE_NOT_FOUND", _("X-Marketplace names no marketplace you may act in.")
    )
