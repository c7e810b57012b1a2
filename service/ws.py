"""uvicorn's websocket protocol, holding less for each open connection.

uvicorn's sans-I/O implementation keeps the handshake's request and response (their header
maps: about 20 objects the garbage collector tracks) for as long as the connection lives,
though neither is read again once the connection is accepted. With thousands of idle
subscribers, that is memory and, above all, work for every full collection, a pause of the
whole process. This protocol drops them once the accept is sent.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

# The value of ``presta serve --ws auto``.
IMPORT_PATH = "service.ws:WebSocketProtocol"


class WebSocketProtocol(WebSocketsSansIOProtocol):
    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
