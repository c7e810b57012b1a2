"""Which executor runs an operation: the compiled statement (``resolvers.compiled``) when the
query compiles for this actor, else strawberry's standard executor.

Decided per operation inside strawberry's own operation, once parsing, validation, the
document limits, the rate limit and the policy table's principals are known: every transport
rule that applies to a query (body limit, persisted documents, rate limit, masking, request
id, metrics) applies to both paths alike, and the compiled one only replaces graphql-core's
execution. Its ``data`` is the statement's JSON text, written as is into the HTTP response
(``orjson.Fragment``); on websockets and in-process it is parsed.

Outside production, ``X-Presta-Executor: standard`` forces the standard executor for one
HTTP request (to compare both paths), and the HTTP response says which one ran in
``extensions.executor``.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLSchema
from graphql.execution.values import get_variable_values
from starlette.requests import Request
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from presta.metrics import OPERATIONS
from presta.settings import settings
from resolvers import compiled
from resolvers.actor import Actor

HEADER = "x-presta-executor"
COMPILED, STANDARD = "compiled", "standard"


async def run_compiled(
    graphql_schema: GraphQLSchema, ctx: ExecutionContext
) -> GraphQLExecutionResult | None:
    """The result of the compiled path, or None when the standard executor runs this one."""
    result = await _compiled(graphql_schema, ctx)
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
    if plan is None or plan.table_free:
        return None
    try:
        values = plan.values(compiled.Inputs(actor, variables, getattr(context, "profile", None)))
    except compiled.Fallback:
        return None
    text = await compiled.read(plan, values)
    data: Any = orjson.Fragment(text) if isinstance(request, Request) else orjson.loads(text)
    return GraphQLExecutionResult(data=data, errors=None)
