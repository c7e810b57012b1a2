"""The fast lane: a query the full path already answered compiled, asked again by a kept
actor, answered before strawberry's view.

For a repeated caller a compiled query is one statement, authentication included; what is
left is the view around it (parsing the body, the schema's extensions and hooks, the
execution context), most of the API's CPU for a small query. The lane answers only when its
answer is provably the full path's: a ``POST`` of ``application/json`` whose body is an object
with ``query``, optional ``operationName`` and ``variables`` and nothing else (no
``extensions``: persisted documents go the full path), no stream transport asked for, no
``X-Presta-Executor`` header, a kept actor (``Context.provisional``), and a document the full
path answered compiled in this process for the same text, operation name and actor kind
(``schema.http.compiled.ran_compiled``). It applies what the full path applies to such a
request, through the same functions: the document's parse and validation under the limits
in force (cached), the limits that depend on variables, the trusted-documents rule, the rate
limit, variable coercion, the plan and its parameters, the statement with the actor's guard,
the operations metric, ``extensions.executor``, and the view's own ``process_result`` and
``create_response``. The request id, the body limit and the HTTP metrics are the
middleware's, around both.

Anything else, any refusal, a ``Fallback``, a failed guard (nothing was read), an error:
the request goes the full path as if the lane were not there. The body stays cached in the
request (Starlette's ``Request.body``), and a rate limit the lane spent stands for the full
path (``schema.http.ratelimit.spend``). ``PRESTA_FAST_LANE=false`` turns the lane off.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from graphql import GraphQLSchema, OperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.utils.operation import get_first_operation

from presta.settings import settings
from resolvers import compiled
from resolvers.credentials import Authenticated
from schema.http import limits, ratelimit
from schema.http.compiled import COMPILED, HEADER, STALE, Asked, prepared, ran, ran_compiled
from schema.http.persisted import PersistedDocuments, PersistedQueryError

log = logging.getLogger("presta.lane")

_FIELDS = frozenset({"query", "operationName", "variables"})
_answered = [0]


class View(Protocol):
    """What the lane uses of the GraphQL view (``schema.http.app.PrestaGraphQL``)."""

    persisted: PersistedDocuments

    def decode_json(self, data: str | bytes) -> object: ...

    def _get_stream_transport_from_headers(self, headers: Mapping[str, str]) -> Any: ...

    async def get_sub_response(self, request: Any) -> Response: ...

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse: ...

    def create_response(self, response_data: Any, sub_response: Response) -> Response: ...


def answered() -> int:
    """How many requests this process answered in the lane."""
    return _answered[0]


def media_type(scope: Scope) -> bytes:
    """The request's media type, without parameters, in lower case."""
    headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
    return headers.get(b"content-type", b"").split(b";")[0].strip().lower()


async def answer(view: View, graphql_schema: GraphQLSchema, request: Request) -> Response | None:
    """The full path's answer to this request when the lane can prove it, else None."""
    provisional = request.scope.get("state", {}).get("provisional")
    if (
        not isinstance(provisional, Authenticated)
        or provisional.guard is None
        or request.method != "POST"
        or media_type(request.scope) != b"application/json"
        or HEADER in request.headers
        or view._get_stream_transport_from_headers(request.headers) is not None
        or not settings().fast_lane
    ):
        return None
    body = await request.body()  # kept by the request for the full path
    try:
        return await _answer(view, graphql_schema, request, provisional, body)
    except Exception:
        # The full path runs it again and answers (or reports) whatever this was.
        log.debug("the fast lane left a request to the full path", exc_info=True)
        return None


async def _answer(
    view: View,
    graphql_schema: GraphQLSchema,
    request: Request,
    provisional: Authenticated,
    body: bytes,
) -> Response | None:
    try:
        data = view.decode_json(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not data.keys() <= _FIELDS:
        return None
    query, name, variables = data.get("query"), data.get("operationName"), data.get("variables")
    if (
        not isinstance(query, str)
        or not (name is None or isinstance(name, str))
        or not (variables is None or isinstance(variables, dict))
    ):
        return None
    document = limits.admitted(query)
    if document is None:
        return None
    if name is None:  # as strawberry names the operation (``ExecutionContext.operation_name``)
        first = get_first_operation(document)
        name = first.name.value if first is not None and first.name is not None else None
    actor = provisional.actor
    if not ran_compiled(query, name, compiled.kind_of(actor)):
        return None
    if limits.variable_limits(query, document, variables, name) is not None:
        return None
    try:
        await view.persisted.resolve(query, None)
    except PersistedQueryError:
        return None
    if settings().rate_limiting:
        cost = ratelimit.cost_of(OperationType.QUERY, [])
        decision = await ratelimit.spend(actor, request, cost, keep=True)
        if not decision.allowed:
            return None
    asked = Asked(query, document, name, variables)
    found = prepared(graphql_schema, asked, actor, provisional.profile, provisional)
    if found is None:
        return None
    plan, values = found
    text = await compiled.read(plan, values, provisional.guard)
    if text is None:
        # The actor's rows changed: nothing was read for it, and the full path authenticates
        # it in full rather than run the guard again.
        request.scope["state"][STALE] = True
        return None
    fragment: Any = orjson.Fragment(text)  # written as is into the response
    result = ExecutionResult(data=fragment, errors=None, extensions=ran(COMPILED, request))
    response = view.create_response(
        await view.process_result(request, result), await view.get_sub_response(request)
    )
    _answered[0] += 1
    return response
