"""A graphql-transport-ws connection holding one subscription, over a real websocket."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from presta.security import make_access_token
from schema.http.live import decode_event_cursor


class Socket:
    """One graphql-transport-ws connection holding one subscription (id ``"1"``)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self.reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        port: int,
        user: Any,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        init: dict[str, Any] | None = None,
        **kw: Any,
    ) -> Socket:
        token, _ = make_access_token(user.id)
        ws = await connect(
            f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            compression=None, **kw,
        )  # fmt: skip
        params = {"authorization": f"Bearer {token}", **(init or {})}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": params}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": query, "variables": variables or {}}
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
        return cls(ws)

    def read(self) -> Socket:
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                self.frames.append(frame if isinstance(frame, str) else frame.decode())

    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(frame) for frame in self.frames]

    def nexts(self, field: str) -> list[dict[str, Any]]:
        return [
            m["payload"]["data"][field]
            for m in self.messages()
            if m["type"] == "next" and m["payload"].get("data")
        ]

    def cursors(self) -> list[int]:
        return [decode_event_cursor(n["cursor"]) for n in self.nexts("viewerUpdated")]  # type: ignore[misc]

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await self.reader
