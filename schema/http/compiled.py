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

The fast lane (``schema.http.lane``) answers a repeated query before strawberry's view with
the same functions (``prepared``, ``ran``), and only a (text, operation name, actor kind) this
module answered compiled over HTTP before (``ran_compiled``). When the lane finds the kept
actor's guard failed, the request is marked ``STALE``: here it is authenticated in full at
once, rather than by running the guard a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from graphql import DocumentNode, GraphQLError, GraphQLSchema
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution.values import get_variable_values
from starlette.requests import Request
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from presta.i18n import current_locale
from presta.metrics import OPERATIONS
from presta.settings import settings
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.authentication import Profile
from resolvers.credentials import Authenticated
from resolvers.errors import AuthError
from schema.context import Context
from schema.locale import caller_locale

HEADER = "x-presta-executor"
COMPILED, STANDARD = "compiled", "standard"


REFUSED = "refused"
# Set by the fast lane when the kept actor's guard failed (``Context.stale``).
STALE = "stale"


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
    ctx.extensions_results.update(ran(executor, getattr(ctx.context, "request", None)))
    return result


def ran(executor: str, request: Any) -> dict[str, str]:
    """Count an operation run by ``executor``; the extensions its HTTP answer reports."""
    OPERATIONS.labels(executor).inc()
    if isinstance(request, Request) and settings().environment != "production":
        return {"executor": executor}
    return {}


def forced_standard(request: Any) -> bool:
    """Outside production, ``X-Presta-Executor: standard`` keeps this request standard."""
    return (
        isinstance(request, Request)
        and request.headers.get(HEADER) == STANDARD
        and settings().environment != "production"
    )


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
    if getattr(context, "executor", None) == STANDARD or forced_standard(request):
        return None
    provisional = getattr(context, "provisional", None)
    if provisional is not None and getattr(context, "stale", False):
        await verified(context)  # in full: the lane saw its guard fail
        return await _compiled(graphql_schema, ctx)
    found = prepared(
        graphql_schema,
        Asked(query, document, ctx.operation_name, ctx.variables),
        actor,
        getattr(context, "profile", None),
        provisional,
    )
    if found is None:
        return None
    plan, values = found
    text = await compiled.read(plan, values, provisional.guard if provisional else None)
    if text is None:
        # The actor's rows changed since it was kept: nothing was read for it. Authenticated
        # again, the operation runs as it would have on a first request.
        await verified(context, changed=True)
        return await _compiled(graphql_schema, ctx)
    if not isinstance(request, Request):
        return GraphQLExecutionResult(data=orjson.loads(text), errors=None)
    _record(query, ctx.operation_name, compiled.kind_of(actor))
    data: Any = orjson.Fragment(text)
    return GraphQLExecutionResult(data=data, errors=None)


@dataclass(frozen=True, slots=True)
class Asked:
    """An operation as a request asks for it: its text, parsed, its name and variables."""

    query: str
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any] | None


def prepared(
    graphql_schema: GraphQLSchema,
    asked: Asked,
    actor: Actor,
    profile: Profile | None,
    provisional: Authenticated | None,
) -> tuple[compiled.Plan, list[Any]] | None:
    """The plan of a query operation for this actor and its parameters; None when the
    standard executor runs it (variables it refuses, a plan that does not compile, values
    the plan does not express)."""
    operation = compiled.operation_of(asked.document, asked.operation_name)
    if operation is None:
        return None
    coerced = get_variable_values(
        graphql_schema, operation.variable_definitions or (), asked.variables or {}
    )
    if isinstance(coerced, list):  # the standard executor reports them
        return None
    variables: dict[str, Any] = coerced.coerced
    plan = compiled.plan_for(
        graphql_schema,
        asked.query,
        asked.document,
        asked.operation_name,
        compiled.kind_of(actor),
        variables,
    )
    if plan is None or (plan.table_free and provisional is None):
        # Table-free (the viewer): the standard executor answers it from what authentication
        # read, with no statement of its own; for a kept actor the guard is the one statement
        # either way, and the compiled one spares graphql-core's execution.
        return None
    try:
        return plan, plan.values(compiled.Inputs(actor, variables, profile))
    except compiled.Fallback:
        return None


# The (text, operation name, actor kind) of the queries answered compiled over HTTP in this
# process: the only ones the fast lane (``schema.http.lane``) may answer.
_RAN: dict[tuple[str, str | None, compiled.ActorKind], None] = {}
_RAN_MAX = 1024


def _record(query: str, operation_name: str | None, kind: compiled.ActorKind) -> None:
    key = (query, operation_name, kind)
    if key not in _RAN:
        if len(_RAN) >= _RAN_MAX:
            _RAN.clear()
        _RAN[key] = None


def ran_compiled(query: str, operation_name: str | None, kind: compiled.ActorKind) -> bool:
    """Whether the full path answered this query compiled over HTTP for this kind of actor."""
    return (query, operation_name, kind) in _RAN


def _refused(context: Any, error: AuthError) -> GraphQLExecutionResult:
    """The refusal a first request would have got before any operation: over HTTP the whole
    response (``schema.http.app``), in-process the error."""
    request = getattr(context, "request", None)
    if isinstance(request, Request):
        request.scope.setdefault("state", {})[REFUSED] = error
    return GraphQLExecutionResult(
        data=None, errors=[GraphQLError(str(error), extensions={"code": error.code})]
    )
