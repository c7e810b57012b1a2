"""A local SMTP server for the demo: what Presta sends is saved as ``.eml`` files.

``presta serve --demo`` starts one when no SMTP server answers on the configured address, so
a newcomer's ``make run`` delivers its e-mails for real (over SMTP, like production) and can
read them under ``var/mail/`` instead of seeing the jobs fail; on another port when something
else holds that one. Needs aiosmtpd (dev extra).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from presta.settings import get_settings, settings

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


def _speaks_smtp(host: str, port: int) -> bool | None:
    """True when an SMTP server greets on host:port, False when something else listens there,
    None when nothing does."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.settimeout(1.0)
            try:
                greeting = conn.recv(512)
            except OSError:
                return False
            if greeting.startswith(b"220"):
                conn.sendall(b"QUIT\r\n")
                return True
            return False
    except OSError:
        return None


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class Catcher:
    """A running catcher: its port, and the busy port it replaced, if any."""

    def __init__(self, controller: Any, port: int, busy_port: int | None) -> None:
        self.controller = controller
        self.port = port
        self.busy_port = busy_port

    def stop(self) -> None:
        self.controller.stop()


def start_if_free(host: str, port: int, directory: Path) -> Catcher | None:
    """A running catcher on ``host:port``, or None when an SMTP server already answers there
    (or aiosmtpd is not installed). When something else holds the port, the catcher takes a
    free one (``Catcher.busy_port``). Its thread lives as long as the process."""
    if _speaks_smtp(host, port):
        return None
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        log.warning("no SMTP server on %s:%s and aiosmtpd is not installed", host, port)
        return None
    # aiosmtpd logs every SMTP command at INFO: noise next to the one line per e-mail below.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    busy_port = None
    if not _bindable(host, port):
        busy_port, port = port, _free_port(host)
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(_SaveToFiles(directory), hostname=host, port=port)
    controller.start()
    log.info("demo e-mail catcher on %s:%s, saving to %s", host, port, directory)
    return Catcher(controller, port, busy_port)


def start_for_demo(directory: Path) -> tuple[str, Catcher | None]:
    """Where the demo's e-mails go, as a line of the banner, and the catcher started if need
    be. A catcher on another port than the configured one becomes the SMTP port of the process
    (and of its workers)."""
    cfg = settings()
    catcher = start_if_free(cfg.smtp_host, cfg.smtp_port, directory)
    if catcher is None:
        return f"E-mails go to the SMTP server on {cfg.smtp_host}:{cfg.smtp_port}", None
    line = f"E-mails are saved under {directory}/ (SMTP {cfg.smtp_host}:{catcher.port})"
    if catcher.busy_port is not None:
        os.environ["PRESTA_SMTP_PORT"] = str(catcher.port)
        get_settings.cache_clear()
        line += f": port {catcher.busy_port} is busy with something that is not an SMTP server"
    return line, catcher
