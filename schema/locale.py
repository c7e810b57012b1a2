"""The caller's language for each operation: userErrors and error messages are read in it."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from presta.i18n import DEFAULT_LOCALE, LOCALES, current_locale, negotiate
from schema.context import Context


def caller_locale(context: Context) -> str:
    """The user's chosen locale, else the one ``Accept-Language`` prefers, else French."""
    chosen = context.actor.locale
    if chosen in LOCALES:
        return chosen
    request = context.request
    asked = request.headers.get("accept-language") if request is not None else None
    return negotiate(asked) or DEFAULT_LOCALE


class CallerLocale(SchemaExtension):
    """Sets ``presta.i18n.current_locale`` for the operation, HTTP or websocket."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            current_locale.set(caller_locale(context))
        yield
