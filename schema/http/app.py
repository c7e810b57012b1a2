"""The ASGI application: Starlette routes around the strawberry GraphQL view."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from presta import db
from presta.i18n import DEFAULT_LOCALE, negotiate
from presta.logs import request_id
from presta.settings import settings
from resolvers import account, credentials
from resolvers.actor import ANONYMOUS, Actor
from resolvers.credentials import Credentials
from resolvers.errors import AuthError
from resolvers.marketplace import marketplace_id_from_header
from schema.context import Context
from schema.http import caching, files, graphiql, lane
from schema.http.compiled import REFUSED, STALE, verified
from schema.http.errors import UNAVAILABLE_MESSAGE, log_refusal
from schema.http.middleware import JSONBody, ServiceMiddleware, Websockets
from schema.http.persisted import PersistedDocuments, PersistedQueryError
from schema.http.websocket import Refused, TransportWSHandler
from schema.root import schema

log = logging.getLogger("presta.app")


async def _credentials(headers: Any, params: dict[str, Any] | None = None) -> Credentials:
    params = params or {}
    bearer = (
        params.get("authorization") or params.get("Authorization") or headers.get("authorization")
    )
    token = None
    if isinstance(bearer, str) and bearer[:7].lower() == "bearer ":
        token = bearer[7:].strip()
    api_key = params.get("apiKey") or headers.get("x-api-key")
    marketplace = params.get("marketplace") or headers.get("x-marketplace")
    # Anything named (a connection_init may send a number) must name a marketplace.
    named = bool(marketplace)
    marketplace_id = (
        await marketplace_id_from_header(marketplace) if isinstance(marketplace, str) else None
    )
    return Credentials(
        bearer=token,
        api_key=api_key if isinstance(api_key, str) else None,
        marketplace_id=marketplace_id,
        named=named,
    )


async def _authenticate(
    headers: Any, params: dict[str, Any] | None = None
) -> tuple[Actor, account.Profile | None]:
    found = await credentials.verify(await _credentials(headers, params))
    return found.actor, found.profile


def _error_response(message: str, code: str, status: int = 200, **headers: str) -> Response:
    if code != "SERVICE_UNAVAILABLE":  # logged with its cause where it is found
        log_refusal(code, message)
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONBody(body, status_code=status, headers=headers or None)


def _auth_error_response(error: AuthError, headers: Any) -> Response:
    """A refusal answered before any operation, in the language the request prefers (no
    user is known), else French."""
    locale = negotiate(headers.get("accept-language")) or DEFAULT_LOCALE
    return _error_response(error.render(locale), error.code)


def _http_error_response(error: HTTPException) -> Response:
    """Transport refusals in the same JSON shape as every other error, with a code."""
    if isinstance(error.__cause__, InvalidOperationTypeError):
        # Only queries may travel over GET: a mutation there could be triggered by a link.
        return _error_response(error.reason, "METHOD_NOT_ALLOWED", 405, Allow="POST")
    if error.reason == "Batching is not enabled":
        return _error_response(
            "Batched requests (a JSON array) are not supported: send one operation per request.",
            "BATCHING_NOT_SUPPORTED",
            400,
        )
    if error.reason == "Unsupported content type":
        return _error_response(_MEDIA_TYPES_MESSAGE, "UNSUPPORTED_MEDIA_TYPE", 415)
    code = {405: "METHOD_NOT_ALLOWED", 404: "NOT_FOUND"}.get(error.status_code, "BAD_REQUEST")
    return _error_response(error.reason, code, error.status_code)


_MEDIA_TYPES_MESSAGE = (
    "POST application/json (or multipart/form-data for uploads, with a preflight header)."
)
# A browser sends a cross-site form (urlencoded, multipart, text/plain) without asking first;
# it must ask (CORS preflight) before adding a custom header. Uploads must carry one of these.
_PREFLIGHT_HEADERS = (b"apollo-require-preflight", b"x-requested-with")


def _csrf_refusal(scope: Scope) -> Response | None:
    """Refuse what a cross-site form could send: only JSON, or multipart with a custom header."""
    if scope["method"] != "POST":
        return None
    content_type = lane.media_type(scope)
    if content_type == b"application/json":
        return None
    if content_type == b"multipart/form-data":
        headers = dict(scope.get("headers") or [])
        if any(headers.get(name) for name in _PREFLIGHT_HEADERS):
            return None
        return _error_response(
            "Uploads (multipart/form-data) need an `Apollo-Require-Preflight: true` or "
            "`X-Requested-With` header, so that a cross-site form cannot send them.",
            "PREFLIGHT_REQUIRED",
            400,
        )
    return _error_response(_MEDIA_TYPES_MESSAGE, "UNSUPPORTED_MEDIA_TYPE", 415)


class PrestaGraphQL(GraphQL[Context, None]):
    """Authenticates before anything runs: HTTP from headers, websockets from connection_init;
    runs persisted documents by hash (``schema.http.persisted``)."""

    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, *args: Any, persisted: PersistedDocuments, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.persisted = persisted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = _csrf_refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            conn = HTTPConnection(scope)
            try:
                state = scope.setdefault("state", {})
                # A kept actor is provisional: the operation verifies it before reading
                # anything for it, or its compiled statement carries the guard.
                found = await credentials.authenticate_kept(await _credentials(conn.headers))
                state["actor"], state["profile"] = found.actor, found.profile
                state["provisional"] = found if found.guard is not None else None
            except AuthError as error:
                await _auth_error_response(error, conn.headers)(scope, receive, send)
                return
            except Exception as error:
                if not db.is_unavailable(error):
                    raise
                log.warning("database unavailable while authenticating: %s", error)
                unavailable = _error_response(
                    UNAVAILABLE_MESSAGE, "SERVICE_UNAVAILABLE", 503, **{"Retry-After": "1"}
                )
                await unavailable(scope, receive, send)
                return
            request = Request(scope, receive)
            # A repeated compiled query, answered before the view when it provably gets the
            # same answer; else the same request goes the full path.
            fast = await lane.answer(self, schema._schema, request)
            if fast is not None:
                response = fast
            else:
                try:
                    response = await self.run(request)
                except HTTPException as error:
                    response = _http_error_response(error)
                except PersistedQueryError as error:
                    response = _error_response(error.message, error.code, error.status)
                except AuthError as error:  # a kept actor refused when verified (streams)
                    state[REFUSED] = error
            refused = state.get(REFUSED)
            if isinstance(refused, AuthError):
                # What a first request gets when its authentication refuses it.
                await _auth_error_response(refused, conn.headers)(scope, receive, send)
                return
            await caching.for_get(request, response)(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming a persisted document wants its data, whatever its Accept header says.
        return bool(
            super().should_render_graphql_ide(request)
            and request.query_params.get("extensions") is None
        )

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        if not isinstance(request_data, list) and self._get_stream_transport(request_data.protocol):
            # Streamed (multipart subscriptions): never compiled, so verified first.
            await verified(context)
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        resolved = await self.persisted.resolve(request_data.query, request_data.extensions)
        result = await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=dataclasses.replace(request_data, query=resolved.query),
        )
        # Kept once it ran: a mutation sent by GET was refused before (and is not kept).
        await self.persisted.register(resolved)
        return result

    async def parse_http_body(self, request: Any) -> Any:
        try:
            return await super().parse_http_body(request)
        except HTTPException:
            raise
        except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError) as exc:
            # A body that is JSON but not an object (`"x"`, `null`, `5`), nested past the
            # parser's recursion limit, or a multipart map that does not point at variables:
            # the client's mistake, not ours.
            raise HTTPException(400, "The request must be a JSON object with a query.") from exc

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses nesting past its limit, NaN, and text that is not UTF-8 with a
        # JSONDecodeError (a subclass of json's): a malformed message like any other. A UTF-8
        # byte order mark is tolerated, as json.loads did.
        if isinstance(data, bytes) and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        # Websocket messages; a str, since graphql-transport-ws speaks in text frames.
        return orjson.dumps(data).decode()

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page_response()

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = request.scope.get("state", {})
        return Context(
            request=request,
            response=response,
            actor=state.get("actor", ANONYMOUS),
            request_id=request_id.get(),
            profile=state.get("profile"),
            provisional=state.get("provisional"),
            stale=state.get(STALE, False),
        )

    async def on_ws_connect(self, context: Context) -> Any:
        try:
            context.actor, _ = await _authenticate(
                context.request.headers, context.connection_params or {}
            )
        except AuthError as error:
            log_refusal(error.code, f"websocket connection_init: {error}")
            raise Refused(error) from None
        return None

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {"data": result.data}
        caching.mark(request, cacheable=not result.errors)
        if result.errors:
            data["errors"] = [e.formatted for e in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = Response(
            orjson.dumps(response_data),
            status_code=sub_response.status_code or 200,
            headers=sub_response.headers,
            media_type="application/json",
        )
        return response


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(_: Request) -> Response:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(db.ping_db(), timeout=2)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings().redis_url:
        try:
            await asyncio.wait_for(_ping_redis(), timeout=2)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONBody({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


async def _ping_redis() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(settings().redis_url)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def metrics(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_app(*, lifespan: Lifespan[Starlette] | None = None) -> ASGIApp:
    """The routes and the GraphQL view; ``lifespan`` is the process's start and stop."""
    cfg = settings()
    graphql = PrestaGraphQL(
        schema,
        persisted=PersistedDocuments.from_settings(schema._schema),
        graphql_ide="graphiql",
        allow_queries_via_get=True,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        multipart_uploads_enabled=True,
        max_subscriptions_per_connection=cfg.max_subscriptions_per_connection,
        connection_init_wait_timeout=timedelta(seconds=cfg.ws_init_timeout_seconds),
        allowed_origins=cfg.allowed_origins,
    )
    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        files.route,
        graphiql.route,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(ServiceMiddleware)
    return Websockets(app, graphql)
