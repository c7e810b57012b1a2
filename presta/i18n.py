"""Texts in the reader's language: French and English, from gettext catalogues (Babel).

Mark a text with ``_("…{name}…", name=value)`` (or ``ngettext(singular, plural, n, …)``): it
returns a ``Text``, translated only when rendered for a locale, so one ``Text`` serves an
e-mail's every recipient and a ``UserError`` is read in its caller's language. Placeholders
are ``str.format`` fields (literal braces doubled); a value may itself be a ``Text``.

The catalogues are ``presta/locale/<locale>/LC_MESSAGES/messages.po`` (the source texts are
English; ``make messages`` extracts them and updates the French catalogue), compiled in
memory on first use: a fresh clone needs no compile step.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

Locale = Literal["fr", "en"]
LOCALES: tuple[Locale, ...] = ("fr", "en")
# The product is French first: anyone who chose nothing reads French.
DEFAULT_LOCALE: Locale = "fr"
# The language of the texts in the code (the msgids).
SOURCE_LOCALE: Locale = "en"

CATALOGUES = Path(__file__).parent / "locale"
DOMAIN = "messages"

# The caller's locale for the operation being run (set by the API per operation); outside
# one (use cases called directly, logs), texts read in the source language.
current_locale: ContextVar[str] = ContextVar("current_locale", default=SOURCE_LOCALE)


@dataclass(frozen=True, slots=True)
class Text:
    """A translatable text and its values; ``str()`` renders it in the current locale."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None
    n: int = 1

    def render(self, locale: str) -> str:
        translations = _translations(locale)
        if self.plural is None:
            template = translations.gettext(self.msgid)
        else:
            template = translations.ngettext(self.msgid, self.plural, self.n)
        values = {
            k: v.render(locale) if isinstance(v, Text | Join | When) else v
            for k, v in self.params.items()
        }
        return template.format(n=self.n, **values) if self.plural else template.format(**values)

    def __str__(self) -> str:
        return self.render(current_locale.get())


@dataclass(frozen=True, slots=True)
class Join:
    """Values (texts among them) joined by a separator once rendered."""

    separator: str
    values: Sequence[object]

    def render(self, locale: str) -> str:
        return self.separator.join(render(v, locale) for v in self.values)

    def __str__(self) -> str:
        return self.render(current_locale.get())


@dataclass(frozen=True, slots=True)
class When:
    """A day or an hour as its reader writes it, in the marketplace's time zone: "8 décembre
    2026" and "14:30" in French, "December 8, 2026" and "2:30 PM" in English (Babel's CLDR
    formats). A ``date`` is a day wherever one is."""

    moment: datetime | date
    zone: str
    part: Literal["day", "hour"] = "day"

    def render(self, locale: str) -> str:
        moment = self.moment
        if isinstance(moment, datetime):
            moment = moment.astimezone(ZoneInfo(self.zone))
            if self.part == "hour":
                return format_time(moment, format="short", locale=locale)
            moment = moment.date()
        return format_date(moment, format="long", locale=locale)

    def __str__(self) -> str:
        return self.render(current_locale.get())


def day(moment: datetime | date, zone: str) -> When:
    return When(moment, zone, "day")


def hour(moment: datetime, zone: str) -> When:
    return When(moment, zone, "hour")


def _(msgid: str, /, **params: object) -> Text:
    """Mark a text for translation (``pybabel extract`` finds the literal)."""
    return Text(msgid, params)


def N_(msgid: str, /) -> str:
    """Mark a text kept as data (a catalogue label) for extraction: ``Text(label)`` reads it
    translated later."""
    return msgid


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> Text:
    """A text whose form depends on ``n`` (``{n}`` in it is the number)."""
    return Text(singular, params, plural=plural, n=n)


def render(value: object, locale: str) -> str:
    """A ``Text`` in ``locale``; anything else as ``str``."""
    if isinstance(value, Text | Join | When):
        return value.render(locale)
    return str(value)


def locale_or_default(value: str | None) -> Locale:
    """A stored or asked-for locale if it is one we speak, else the default."""
    for locale in LOCALES:
        if value == locale:
            return locale
    return DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> Locale | None:
    """The first of our locales an ``Accept-Language`` header prefers, if any."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, position, tag.strip().split("-")[0].lower()))
    for _q, _p, language in sorted(ranked):
        if language in LOCALES:
            return locale_or_default(language)
    return None


def preload() -> None:
    """Compile every catalogue now (a process start), not on first use."""
    for locale in LOCALES:
        _translations(locale)


@cache
def _translations(locale: str) -> gettext.NullTranslations:
    path = CATALOGUES / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == SOURCE_LOCALE or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries left out: they read in English
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
