"""Outgoing e-mail through real SMTP."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from presta.settings import settings


def _send_blocking(message: EmailMessage) -> None:
    cfg = settings()
    with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=10) as smtp:
        if cfg.smtp_starttls:
            smtp.starttls()
        if cfg.smtp_user:
            smtp.login(cfg.smtp_user, cfg.smtp_password)
        smtp.send_message(message)


async def send_mail(*, to: str, subject: str, body: str) -> None:
    cfg = settings()
    message = EmailMessage()
    message["From"] = cfg.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if not cfg.mail_enabled:
        return
    await asyncio.to_thread(_send_blocking, message)
