"""Live events compiled: one statement per event for every subscriber of a subscription
document, each subscriber's payload a row of it.

A subscription field that a domain declares here (``declare_subscription``, next to its read
use cases) is compiled like a query root: its selection becomes one SQL expression whose
value is the field's JSON for one event and one actor, or null when that actor may not see
the event's object (the access check is part of it). For an event, the expression is run for
all the subscribers at once: each one's parameters (its actor's ids, the event's) are a row
of a ``VALUES`` list, and the statement returns one row per subscriber, its ``data`` as JSON
text, which the server only wraps in the subscriber's ``next`` envelope (as Hasura's
multiplexed subscriptions do).

Plans are cached per (document, operation, actor kind), as ``resolvers.compiled.plans``
caches a query's. A document that cannot be compiled for the actor's kind (``Fallback``)
runs through the standard executor, one execution per cohort of equal subscriptions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLSchema, OperationType, VariableNode
from tortoise import connections

from resolvers.compiled.builder import ActorKind, Builder, Fallback, Getter, Inputs, Read, quote
from resolvers.compiled.plans import document_key, operation_of
from resolvers.policy import ROOT

SUBSCRIPTIONS: dict[str, tuple[Read, tuple[str, ...]]] = {}
_PLACEHOLDER = re.compile(r"\$(\d+)::([a-z_]+(?:\[\])?)")
# A statement's parameters are at most 32,767: subscribers are sent in chunks of this many.
_CHUNK = 1000


def declare_subscription(field_name: str, read: Read, *, topics: Sequence[str]) -> None:
    """How a subscription field reads for one event of ``topics`` (``Inputs.event``): a SQL
    expression of its object's JSON, null when the actor may not see it."""
    SUBSCRIPTIONS[field_name] = (read, tuple(topics))


@dataclass(frozen=True, slots=True)
class LivePlan:
    """One subscriber's payload as a SQL expression over its parameters ``p1``…``pn`` (a
    row of the event's ``VALUES`` list)."""

    expression: str
    params: tuple[Getter, ...]
    casts: tuple[str, ...]
    topics: tuple[str, ...]

    def values(self, inputs: Inputs) -> list[Any]:
        return [getter(inputs) for getter in self.params]


_PLANS: dict[tuple[str, str | None, ActorKind], LivePlan | None] = {}
_PLANS_MAX = 1024


def live_plan(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    operation_name: str | None,
    kind: ActorKind,
) -> LivePlan | None:
    """The plan of a subscription for this actor kind, or None when it does not compile."""
    key = (document_key(query), operation_name, kind)
    if key in _PLANS:
        return _PLANS[key]
    try:
        found: LivePlan | None = _compile(schema, document, operation_name, kind)
    except Fallback:
        found = None
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    _PLANS[key] = found
    return found


def _compile(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, kind: ActorKind
) -> LivePlan:
    operation = operation_of(document, operation_name)
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        raise Fallback("not a subscription")
    if _steered(operation):
        raise Fallback("@include/@skip on a variable")
    b = Builder(schema, document, operation, kind, {})
    fields = b.fields("Subscription", operation.selection_set)
    if len(fields) != 1:
        raise Fallback("a subscription selects one field")
    [selected] = fields
    declared = SUBSCRIPTIONS.get(selected.name)
    if declared is None:
        raise Fallback(f"Subscription.{selected.name}")
    read, topics = declared
    if not ROOT.get("Subscription", {}).get(selected.name, frozenset()) & kind.principals:
        raise Fallback("refused by the policy: its error is the standard executor's")
    value = read(b, "", selected)
    expression = (
        f"(SELECT CASE WHEN v IS NULL THEN NULL "
        f"ELSE json_build_object({quote(selected.key)}, v)::text END"
        # Fenced: the planner would otherwise inline ``v`` into both places that read it.
        f" FROM (SELECT {value} AS v OFFSET 0) x)"
    )
    casts: dict[int, str] = {}
    for number, cast in _PLACEHOLDER.findall(expression):
        casts[int(number)] = cast
    if sorted(casts) != list(range(1, len(b.params) + 1)):
        raise Fallback("a parameter without its cast")
    own = _PLACEHOLDER.sub(lambda m: f"s.p{m.group(1)}::{m.group(2)}", expression)
    return LivePlan(own, tuple(b.params), tuple(casts[n] for n in sorted(casts)), topics)


def _steered(operation: Any) -> bool:
    found = False

    def walk(node: Any) -> None:
        nonlocal found
        for directive in getattr(node, "directives", None) or ():
            if any(isinstance(a.value, VariableNode) for a in directive.arguments):
                found = True
        selection_set = getattr(node, "selection_set", None)
        for child in selection_set.selections if selection_set is not None else ():
            walk(child)

    walk(operation)
    return found


async def run_for_each(plan: LivePlan, rows: Sequence[list[Any]]) -> list[str | None]:
    """The plan's payload for each row of parameters (None: nothing for that subscriber), in
    one statement per ``_CHUNK`` subscribers."""
    found: list[str | None] = []
    for start in range(0, len(rows), _CHUNK):
        found += await _run(plan, rows[start : start + _CHUNK])
    return found


async def _run(plan: LivePlan, rows: Sequence[list[Any]]) -> list[str | None]:
    if not rows:
        return []
    if not plan.casts or any(cast.endswith("[]") for cast in plan.casts):
        sql, values = _as_values(plan, rows)
    else:
        sql, values = _as_arrays(plan, rows)
    _, found = await connections.get("default").execute_query(sql, values)
    return [row[1] for row in found]


def _as_arrays(plan: LivePlan, rows: Sequence[list[Any]]) -> tuple[str, list[Any]]:
    """One array per parameter, unnested into the subscribers' rows: the same text whatever
    their number, so PostgreSQL parses and plans it once per connection (asyncpg's prepared
    statements), and binds ``len(casts)`` values instead of one per subscriber and column."""
    columns = ", ".join([*(f"p{n + 1}" for n in range(len(plan.casts))), "i"])
    arrays = ", ".join(f"${n + 1}::{cast}[]" for n, cast in enumerate(plan.casts))
    sql = (
        f"SELECT s.i, {plan.expression} FROM unnest({arrays}) WITH ORDINALITY AS s({columns}) "
        "ORDER BY s.i"
    )
    return sql, [list(column) for column in zip(*rows, strict=True)]


def _as_values(plan: LivePlan, rows: Sequence[list[Any]]) -> tuple[str, list[Any]]:
    """A ``VALUES`` row per subscriber: for plans with an array parameter (``unnest`` would
    flatten it) or with none."""
    width = len(plan.casts)
    tuples: list[str] = []
    values: list[Any] = []
    for index, row in enumerate(rows):
        cells = [f"{index}"]
        for offset, cast in enumerate(plan.casts):
            cells.append(f"${len(values) + offset + 1}::{cast}")
        values += row
        tuples.append(f"({', '.join(cells)})")
    columns = ", ".join(["i", *(f"p{n + 1}" for n in range(width))])
    sql = (
        f"SELECT s.i, {plan.expression} FROM (VALUES {', '.join(tuples)}) AS s({columns}) "
        "ORDER BY s.i"
    )
    return sql, values
