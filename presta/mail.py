"""Outgoing e-mail through real SMTP, in each recipient's language.

A ``Letter`` is an e-mail before its recipient is known: a subject and paragraphs of
translatable texts (``presta.i18n._``) and links. ``Letter.to(address, locale)`` renders it
into a ``Mail`` with a plain text part and an HTML part (every value escaped). Each e-mail of
the product is one function returning a ``Letter`` next to its use case; ``send_letter``
sends it to ``Recipient``s (address and locale).

``send_mails`` sends a batch over one SMTP session: a dispatch round tells up to hundreds of
providers at once, and a connection (with STARTTLS and login) per e-mail would cost a round
trip and a handshake each.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from presta.i18n import Join, Text, _, locale_or_default, render
from presta.settings import Settings, settings


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    html: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A link on a line of its own: the address in plain text, an anchor in HTML."""

    url: str
    label: Text | str | None = None


Paragraph = Text | Join | str | Link
HELLO = _("Hello,")


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    locale: str | None = None  # None: the default locale


@dataclass(frozen=True)
class Letter:
    """An e-mail in no language yet: rendered once per recipient's locale."""

    subject: Text | str
    paragraphs: Sequence[Paragraph]
    greeting: Text | str | None = HELLO

    def to(self, address: str, locale: str | None) -> Mail:
        lang = locale_or_default(locale)
        parts = [self.greeting, *self.paragraphs] if self.greeting else list(self.paragraphs)
        return Mail(
            to=address,
            subject=render(self.subject, lang).replace("\n", " "),
            body="\n\n".join(_plain(p, lang) for p in parts) + "\n",
            html=_html(lang, render(self.subject, lang), [_tag(p, lang) for p in parts]),
        )


def _plain(paragraph: Paragraph, locale: str) -> str:
    if isinstance(paragraph, Link):
        if paragraph.label is None:
            return paragraph.url
        return f"{render(paragraph.label, locale)}\n{paragraph.url}"
    return render(paragraph, locale)


def _tag(paragraph: Paragraph, locale: str) -> str:
    if isinstance(paragraph, Link):
        label = paragraph.url if paragraph.label is None else render(paragraph.label, locale)
        href = html.escape(paragraph.url, quote=True)
        return f'<p><a href="{href}">{html.escape(label)}</a></p>'
    return "<p>" + html.escape(render(paragraph, locale)).replace("\n", "<br>\n") + "</p>"


def _html(locale: str, title: str, paragraphs: list[str]) -> str:
    body = "\n".join(paragraphs)
    return (
        f'<!DOCTYPE html>\n<html lang="{locale}">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body>\n</html>\n"
    )


class MailNotSent(Exception):
    """The batch stopped at a failure; the first ``sent`` e-mails of it went out."""

    def __init__(self, sent: int) -> None:
        super().__init__(f"the SMTP server refused or failed after {sent} e-mail(s)")
        self.sent = sent


def _message(cfg: Settings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = cfg.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message.set_content(mail.body)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


def _send_blocking(cfg: Settings, mails: Sequence[Mail]) -> None:
    sent = 0
    try:
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=10) as smtp:
            if cfg.smtp_starttls:
                smtp.starttls()
            if cfg.smtp_user:
                smtp.login(cfg.smtp_user, cfg.smtp_password)
            for mail in mails:
                smtp.send_message(_message(cfg, mail))
                sent += 1
    except (OSError, smtplib.SMTPException) as error:
        raise MailNotSent(sent) from error


async def send_mails(mails: Sequence[Mail]) -> None:
    """Send in order over one SMTP session; raises ``MailNotSent`` (how many went out) on the
    first failure. Does nothing when mail is disabled."""
    cfg = settings()
    if not mails or not cfg.mail_enabled:
        return
    await asyncio.to_thread(_send_blocking, cfg, mails)


async def send_mail(*, to: str, subject: str, body: str) -> None:
    """One plain-text e-mail in no particular language: prefer a ``Letter`` and
    ``send_letter``, which every e-mail of the product goes through."""
    await send_mails([Mail(to=to, subject=subject, body=body)])


async def send_letter(letter: Letter, recipients: Sequence[Recipient]) -> None:
    """Send the letter to each recipient in their language, over one SMTP session."""
    await send_mails([letter.to(r.email, r.locale) for r in recipients])
