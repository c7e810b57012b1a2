"""uvicorn's websocket protocol, holding less for each open connection and writing a live
event's frame at once.

uvicorn's sans-I/O implementation keeps the handshake's request and response (their header
maps: about 20 objects the garbage collector tracks) for as long as the connection lives,
though neither is read again once the connection is accepted. With thousands of idle
subscribers, that is memory and, above all, work for every full collection, a pause of the
whole process. This protocol drops them once the accept is sent.

It also offers ``send_now`` in the scope's extensions (``SEND_NOW``): the live cohorts
(``schema.http.cohort``) write the same event to hundreds of sockets, and an ASGI send per
socket is a coroutine, a message dict and a text re-encoded for each. ``send_now`` frames
bytes already encoded and writes them while the transport accepts writes; when it does not
(a client that does not read), it refuses and the caller queues.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

# The value of ``presta serve --ws auto``.
IMPORT_PATH = "service.ws:WebSocketProtocol"
SEND_NOW = "presta.send_now"


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_NOW] = {"send": self.send_now}

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]

    def send_now(self, text: bytes) -> bool:
        """Write one text frame (``text`` is UTF-8) now; False if the transport is paused or
        the connection is not open (the caller then sends through ASGI)."""
        if (
            not self.writable.is_set()
            or self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.initial_response is not None
        ):
            return False
        try:
            self.conn.send_text(text)
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
