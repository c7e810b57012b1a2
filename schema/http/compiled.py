"""Which executor runs an operation: the compiled statement (``resolvers.compiled``) when the
query compiles for this actor, else strawberry's standard executor.

Decided per operation inside strawberry's own operation, once parsing, validation, the
document limits, the rate limit and the policy table's principals are known: every transport
rule that applies to a query (body limit, persisted documents, rate limit, masking, request
id, metrics) applies to both paths alike, and the compiled one only replaces graphql-core's
execution. Its ``data`` is the statement's JSON text, written as is into the HTTP response
(``orjson.Fragment``); on websockets and in-process it is parsed.

A request whose actor was kept from an earlier one (``Context.provisional``,
``resolvers.credentials``) runs the compiled statement with the actor's guard: the statement
also recomputes the fingerprint of the rows the actor was built from, and answers only when
it is unchanged, so a compiled read costs one statement, authentication included. Before the
standard executor runs, the guard runs alone (``verified``). When a guard fails, the actor is
authenticated fully: a refusal then answers the whole request as it would have answered a
first one (``REFUSED`` in the scope's state, which ``schema.http.app`` turns into its
response), and changed roles run the operation again under the new actor.

Outside production, ``X-Presta-Executor: standard`` forces the standard executor for one
HTTP request (to compare both paths), and the HTTP response says which one ran in
``extensions.executor``.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, GraphQLSchema
from graphql.execution.values import get_variable_values
from starlette.requests import Request
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from presta.i18n import current_locale
from presta.metrics import OPERATIONS
from presta.settings import settings
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.errors import AuthError
from schema.context import Context
from schema.locale import caller_locale

HEADER = "x-presta-executor"
COMPILED, STANDARD = "compiled", "standard"


REFUSED = "refused"


async def verified(context: Any, *, changed: bool = False) -> None:
    """Make sure of the kept actor of this operation, if it is one (``AuthError``): by its
    guard, or authenticated in full when its rows ``changed``."""
    if isinstance(context, Context) and context.provisional is not None:
        locale = context.actor.locale
        await context.verify(changed=changed)
        if context.actor.locale != locale:
            current_locale.set(caller_locale(context))


async def run_compiled(
    graphql_schema: GraphQLSchema, ctx: ExecutionContext
) -> GraphQLExecutionResult | None:
    """The result of the compiled path, or None when the standard executor runs this one
    (its actor verified first)."""
    try:
        result = await _compiled(graphql_schema, ctx)
        if result is None:
            await verified(ctx.context)
    except AuthError as error:
        return _refused(ctx.context, error)
    executor = STANDARD if result is None else COMPILED
    OPERATIONS.labels(executor).inc()
    request = getattr(ctx.context, "request", None)
    if isinstance(request, Request) and settings().environment != "production":
        ctx.extensions_results["executor"] = executor
    return result


async def _compiled(
    graphql_schema: GraphQLSchema, ctx: ExecutionContext
) -> GraphQLExecutionResult | None:
    document, query, context = ctx.graphql_document, ctx.query, ctx.context
    actor = getattr(context, "actor", None)
    if document is None or query is None or not isinstance(actor, Actor):
        return None
    if ctx.operation_type is not OperationType.QUERY:
        return None
    request = getattr(context, "request", None)
    if getattr(context, "executor", None) == STANDARD:
        return None
    if (
        isinstance(request, Request)
        and request.headers.get(HEADER) == STANDARD
        and settings().environment != "production"
    ):
        return None
    operation = compiled.operation_of(document, ctx.operation_name)
    if operation is None:
        return None
    coerced = get_variable_values(
        graphql_schema, operation.variable_definitions or (), ctx.variables or {}
    )
    if isinstance(coerced, list):  # the standard executor reports them
        return None
    variables: dict[str, Any] = coerced.coerced
    plan = compiled.plan_for(
        graphql_schema, query, document, ctx.operation_name, compiled.kind_of(actor), variables
    )
    if plan is None or (plan.table_free and getattr(context, "provisional", None) is None):
        # Table-free (the viewer): the standard executor answers it from what authentication
        # read, with no statement of its own; for a kept actor the guard is the one statement
        # either way, and the compiled one spares graphql-core's execution.
        return None
    try:
        values = plan.values(compiled.Inputs(actor, variables, getattr(context, "profile", None)))
    except compiled.Fallback:
        return None
    provisional = getattr(context, "provisional", None)
    text = await compiled.read(plan, values, provisional.guard if provisional else None)
    if text is None:
        # The actor's rows changed since it was kept: nothing was read for it. Authenticated
        # again, the operation runs as it would have on a first request.
        await verified(context, changed=True)
        return await _compiled(graphql_schema, ctx)
    data: Any = orjson.Fragment(text) if isinstance(request, Request) else orjson.loads(text)
    return GraphQLExecutionResult(data=data, errors=None)


def _refused(context: Any, error: AuthError) -> GraphQLExecutionResult:
    """The refusal a first request would have got before any operation: over HTTP the whole
    response (``schema.http.app``), in-process the error."""
    request = getattr(context, "request", None)
    if isinstance(request, Request):
        request.scope.setdefault("state", {})[REFUSED] = error
    return GraphQLExecutionResult(
        data=None, errors=[GraphQLError(str(error), extensions={"code": error.code})]
    )
