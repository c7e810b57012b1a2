"""Outgoing e-mail through real SMTP.

``send_mails`` sends a batch over one SMTP session: a dispatch round tells up to hundreds of
providers at once, and a connection (with STARTTLS and login) per e-mail would cost a round
trip and a handshake each.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from presta.settings import Settings, settings


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


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
    await send_mails([Mail(to=to, subject=subject, body=body)])
