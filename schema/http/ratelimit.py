"""Rate limits of GraphQL operations: which buckets an operation spends, and the refusal.

Runs once the document is parsed, before validation: over HTTP and for every operation
started on a websocket (subscriptions included). A refusal is the top-level error
``RATE_LIMITED`` with ``extensions.retryAfter`` (seconds); over HTTP the status is 429 with a
``Retry-After`` header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from presta import ratelimit
from presta.settings import settings
from resolvers.actor import Actor

# Credential operations: guessing passwords or tokens must be slow.
AUTH_FIELDS = frozenset(
    {"logIn", "signUp", "refreshToken", "signUpClient", "acceptClientInvitation"}
)


def operation_of(document: Any, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name is None or (operation.name and operation.name.value == operation_name):
            return operation
    return None


def root_fields(document: Any, operation: OperationDefinitionNode) -> list[str]:
    """Names (not aliases) of the root fields the operation selects, fragments included."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    names: list[str] = []

    def walk(selection_set: SelectionSetNode, seen: frozenset[str]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.append(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None and fragment.name.value not in seen:
                    walk(fragment.selection_set, seen | {fragment.name.value})

    walk(operation.selection_set, frozenset())
    return names


def principal_of(actor: Actor, request: Any) -> str:
    """Whose allowance: the API key, else the user, else the client's address."""
    if actor.api_key_id is not None:
        return f"apikey:{actor.api_key_id}"
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    client = getattr(request, "client", None)
    return f"ip:{client.host if client is not None else 'unknown'}"


def cost_of(kind: OperationType, fields: list[str]) -> int:
    cfg = settings()
    if kind is OperationType.SUBSCRIPTION:
        return cfg.rate_limit_subscription_cost
    if kind is OperationType.MUTATION:
        return (
            sum(
                cfg.rate_limit_auth_cost if name in AUTH_FIELDS else cfg.rate_limit_mutation_cost
                for name in fields
            )
            or cfg.rate_limit_mutation_cost
        )
    return 1


def buckets_for(actor: Actor, request: Any, cost: int) -> list[ratelimit.Bucket]:
    cfg = settings()
    window = cfg.rate_limit_window_seconds
    buckets = [
        ratelimit.Bucket(principal_of(actor, request), cfg.rate_limit_per_principal, window, cost)
    ]
    if actor.marketplace_id is not None:
        buckets.append(
            ratelimit.Bucket(
                f"marketplace:{actor.marketplace_id}", cfg.rate_limit_per_marketplace, window, cost
            )
        )
    return buckets


# The decision taken for an HTTP request before the full path ran it (``schema.http.lane``).
_SPENT = "presta.rate_limit"


async def spend(actor: Actor, request: Any, cost: int, *, keep: bool = False) -> ratelimit.Decision:
    """Spend the caller's buckets for the operation of this request, once. ``keep``: the
    decision stands for the rest of this HTTP request (the fast lane's, when it leaves the
    request to the full path, whose operation then spends nothing more)."""
    scope = request.scope if isinstance(request, Request) else None
    decided = scope.pop(_SPENT, None) if scope is not None else None
    if isinstance(decided, ratelimit.Decision):
        return decided
    decision = await ratelimit.check(buckets_for(actor, request, cost))
    if keep and scope is not None:
        scope[_SPENT] = decision
    return decision


def rate_limited_error(decision: ratelimit.Decision) -> GraphQLError:
    seconds = decision.retry_after_seconds
    who = "this marketplace" if decision.scope == "marketplace" else "this client"
    return GraphQLError(
        f"Too many requests for {who}: retry in {seconds} s.",
        extensions={"code": "RATE_LIMITED", "retryAfter": seconds, "scope": decision.scope},
    )


class RateLimit(SchemaExtension):
    """Spend the caller's buckets for this operation, or refuse it before it runs."""

    async def on_validate(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        context = ctx.context
        if (
            settings().rate_limiting
            and not getattr(context, "admitted", False)
            and document is not None
            and ctx.pre_execution_errors is None
            and context is not None
        ):
            operation = operation_of(document, ctx.operation_name)
            if operation is not None:
                kind = operation.operation
                # Only a mutation's cost depends on its fields.
                fields = root_fields(document, operation) if kind is OperationType.MUTATION else []
                cost = cost_of(kind, fields)
                request = getattr(context, "request", None)
                decision = await spend(context.actor, request, cost)
                if not decision.allowed:
                    ctx.pre_execution_errors = [rate_limited_error(decision)]
                    response = getattr(context, "response", None)
                    if isinstance(response, Response):
                        response.status_code = 429
                        response.headers["Retry-After"] = str(decision.retry_after_seconds)
        yield
