"""A real SMTP server (aiosmtpd) in the test process, collecting what Presta sends."""

from __future__ import annotations

import threading
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.processes import free_port


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.box.refused:
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.box.lock:
            # Headers decoded (a French subject is sent RFC 2047-encoded).
            self.box.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            if not any(s is session for s in self.box.sessions):
                self.box.sessions.append(session)
        return "250 OK"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        # The SMTP sessions that delivered something, and addresses answered with a 550.
        self.sessions: list[Any] = []
        self.refused: set[str] = set()
        self.lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.sessions.clear()
            self.refused.clear()

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address in (m["To"] or "")]

    @staticmethod
    def body(message: Message) -> str:
        """The plain text part, with its line ends as written (SMTP carries them as CRLF)."""
        if message.is_multipart():
            part = message.get_payload(0)
            assert isinstance(part, Message)
            text = str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
        else:
            payload = message.get_payload(decode=True)
            text = payload.decode() if isinstance(payload, bytes) else str(payload)
        return text.replace("\r\n", "\n")
