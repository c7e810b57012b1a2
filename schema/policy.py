"""The policy gate: every root field checks ``resolvers.policy`` before its resolver runs.

The gate wraps the resolvers of the root types once, when the schema is built, so nested
fields cost nothing. A caller outside a field's principals gets a top-level
``UNAUTHENTICATED`` (not signed in) or ``FORBIDDEN`` error and the resolver never runs.
Object-level checks (tenancy, ownership) stay in the use cases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLResolveInfo, default_field_resolver

from presta.i18n import _
from resolvers.actor import ANONYMOUS, Actor
from resolvers.errors import AuthError, forbidden, unauthenticated
from resolvers.policy import may_call

Resolver = Callable[..., Any]


def refusal(actor: Actor, root: str, field: str) -> AuthError | None:
    """The error the gate raises for this caller, or None when the table allows it."""
    if may_call(actor, root, field):
        return None
    if not actor.is_authenticated:
        return unauthenticated()
    return forbidden(_("You may not use `{field}`.", field=field))


def _actor_of(info: GraphQLResolveInfo[Any]) -> Actor:
    actor = getattr(info.context, "actor", None)
    return actor if isinstance(actor, Actor) else ANONYMOUS


def _gated(root: str, field: str, resolve: Resolver) -> Resolver:
    def gate(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        error = refusal(_actor_of(info), root, field)
        if error is not None:
            if root == "Subscription":
                return _refused_stream(error)
            raise error
        return resolve(source, info, **args)

    return gate


async def _refused_stream(error: AuthError) -> AsyncIterator[Any]:
    # Like the subscriptions' own checks: the refusal is the stream's one result, then complete.
    raise error
    yield  # makes this an async generator


def install(schema: strawberry.Schema) -> strawberry.Schema:
    """Gate every root field of the schema (call once, right after building it)."""
    core = schema._schema
    for root, operation in (
        ("Query", core.query_type),
        ("Mutation", core.mutation_type),
        ("Subscription", core.subscription_type),
    ):
        if operation is None:
            continue
        for name, field in operation.fields.items():
            _gate_field(root, name, field)
    return schema


def _gate_field(root: str, name: str, field: GraphQLField) -> None:
    if root == "Subscription" and field.subscribe is not None:
        field.subscribe = _gated(root, name, field.subscribe)
    else:
        field.resolve = _gated(root, name, field.resolve or default_field_resolver)
