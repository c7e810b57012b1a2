"""The ASGI layer in front of the application: request ids, metrics and the body limit for
HTTP; GraphQL websockets routed past Starlette."""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from presta.logs import request_id
from presta.metrics import HTTP_LATENCY, HTTP_REQUESTS, OPEN_WEBSOCKETS
from presta.settings import settings
from schema.http.errors import log_refusal


class JSONBody(JSONResponse):
    """A JSON response encoded with orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class Websockets:
    """GraphQL websockets go straight to the GraphQL app; everything else to Starlette.

    A websocket's ASGI call lasts as long as the connection, and every layer it passes through
    stays suspended for that long: Starlette's error and exception middleware (which only act
    on HTTP and on exceptions strawberry does not let through), its router and route added 7
    coroutines and their closures to each connection (137 objects tracked by the garbage
    collector, every full collection walking them all), and a wrapper around each message
    sent.
    """

    def __init__(self, app: ASGIApp, graphql: ASGIApp) -> None:
        self.app = app
        self.graphql = graphql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        request_id.set(_new_request_id())
        OPEN_WEBSOCKETS.inc()
        try:
            await self.graphql(scope, receive, send)
        finally:
            OPEN_WEBSOCKETS.dec()


class ServiceMiddleware:
    """Request id, metrics and the body-size limit, for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if incoming.isalnum() and len(incoming) <= 64 else _new_request_id()
        request_id.set(rid)
        path = scope["path"] if scope["path"] in _KNOWN_PATHS else "other"
        limit = settings().max_body_bytes
        if headers.get(b"content-type", b"").startswith(b"multipart/form-data"):
            # Uploads have their own limit, checked again on the file itself.
            limit = max(limit, settings().max_upload_bytes + 64 * 1024)
        length = headers.get(b"content-length")
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            if length is not None and (not length.isdigit() or int(length) > limit):
                await _too_large(limit)(scope, receive, send_wrapper)
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _BodyTooLarge
                return message

            try:
                await self.app(scope, limited_receive, send_wrapper)
            except _BodyTooLarge:
                await _too_large(limit)(scope, receive, send_wrapper)
        finally:
            requests, latency = _metrics(path, scope["method"], status["code"])
            requests.inc()
            latency.observe(time.perf_counter() - started)


def _new_request_id() -> str:
    return os.urandom(8).hex()


@functools.lru_cache(maxsize=256)
def _metrics(path: str, method: str, status: int) -> tuple[Any, Any]:
    # Looking up a labelled child takes a lock and costs more than counting: keep them. The
    # paths are the known ones or "other"; a strange method only evicts the oldest entry.
    return HTTP_REQUESTS.labels(path, method, str(status)), HTTP_LATENCY.labels(path)


class _BodyTooLarge(Exception):
    pass


_KNOWN_PATHS = {"/graphql", "/healthz", "/readyz", "/metrics"}


def _too_large(limit: int) -> Response:
    log_refusal("PAYLOAD_TOO_LARGE", f"request body over the limit of {limit} bytes")
    return JSONBody(
        {
            "data": None,
            "errors": [
                {
                    "message": f"Request body over the limit of {limit} bytes.",
                    "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                }
            ],
        },
        status_code=413,
    )
