"""A real HTTP receiver of webhooks on loopback: plain asyncio, HTTP/1.1 with keep-alive.

It records every request (headers, body, arrival time) and answers as told: a status (204 by
default), the next N requests failing, a delay (for time-outs), a redirect. ``stop`` closes it
(connections refused: a receiver that is down) and ``start`` opens it again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.processes import free_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Answer:
    status: int = 204
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.answer = Answer()
        # Answers for the next requests, before ``answer`` applies again.
        self.queue: list[Answer] = []
        # Decides the answer from the request, when set (after ``queue``).
        self.rule: Callable[[Received], Answer] | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def fail_next(self, count: int, status: int = 500) -> None:
        self.queue.extend(Answer(status=status) for _ in range(count))

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def bodies(self) -> list[bytes]:
        return [r.body for r in self.received]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                request = Received(method, path, headers, body)
                self.received.append(request)
                answer = self._answer_for(request)
                if answer.delay:
                    await asyncio.sleep(answer.delay)
                extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                writer.write(
                    f"HTTP/1.1 {answer.status} X\r\n{extra}Content-Length: 0\r\n\r\n".encode()
                )
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._connections.discard(writer)
            writer.close()

    def _answer_for(self, request: Received) -> Answer:
        if self.queue:
            return self.queue.pop(0)
        if self.rule is not None:
            return self.rule(request)
        return self.answer
