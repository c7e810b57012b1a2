"""A local SMTP server for the demo: what Presta sends is saved as ``.eml`` files.

``presta serve --demo`` starts one when nothing listens on the configured SMTP address, so a
newcomer's ``make run`` delivers its e-mails for real (over SMTP, like production) and can
read them under ``var/mail/`` instead of seeing the jobs fail. Needs aiosmtpd (dev extra).
"""

from __future__ import annotations

import itertools
import logging
import socket
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

log = logging.getLogger("presta.mail")


class _SaveToFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.directory / f"{stamp}-{next(self._numbers):04d}.eml"
        path.write_bytes(envelope.content)
        message = message_from_bytes(envelope.content, policy=policy.default)
        log.info("e-mail to %s: %s (%s)", message["To"], message["Subject"], path)
        return "250 OK"


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_if_free(host: str, port: int, directory: Path) -> Any | None:
    """A running catcher on ``host:port``, or None when a server already listens there (or
    aiosmtpd is not installed). Its thread lives as long as the process."""
    if _listening(host, port):
        return None
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        log.warning("no SMTP server on %s:%s and aiosmtpd is not installed", host, port)
        return None
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(_SaveToFiles(directory), hostname=host, port=port)
    controller.start()
    log.info("demo e-mail catcher on %s:%s, saving to %s", host, port, directory)
    return controller
