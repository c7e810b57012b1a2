"""Plans: one statement per (document, operation, actor kind, values of the variables that
steer ``@include``/``@skip``), built once and cached; ``node(id:)`` over the declared node
types; running a plan."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
)
from tortoise import connections

from presta.settings import settings
from resolvers.compiled import builder
from resolvers.compiled.builder import (
    ActorKind,
    Builder,
    Fallback,
    Getter,
    Inputs,
    Selected,
    build_object,
    declare_root,
    quote,
)
from resolvers.credentials import Guard
from resolvers.policy import NODE, ROOT

log = logging.getLogger("presta.compiled")


# --- node(id:) ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeRead:
    """How ``node(id:)`` reads an object of one type: ``source`` is ``FROM … WHERE`` over
    ``{c}`` with ``{pk}`` the id, visibility included (``AuthorizedNode.load_visible``);
    ``guard`` may refuse an id whose fields would not compile exactly (``Fallback``)."""

    source: Callable[[Builder], str]
    guard: Callable[[Inputs, int], None] | None = None
    opened: bool = False


_NODES: dict[str, NodeRead] = {}


def declare_node(type_name: str, read: NodeRead) -> None:
    _NODES[type_name] = read


def decode_global_id(value: Any) -> tuple[str, int]:
    """The type and number of a global id strawberry would decode alike (canonical only)."""
    if not isinstance(value, str):
        raise Fallback("id")
    try:
        type_name, _, number = base64.b64decode(value, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise Fallback("malformed id") from None
    if not number.isdigit() or not number.isascii() or not 0 < int(number) < 2**63:
        raise Fallback("id number")
    if base64.b64encode(f"{type_name}:{number}".encode()).decode() != value:
        raise Fallback("id not canonical")
    return type_name, int(number)


def _node(b: Builder, _alias: str, s: Selected) -> str:
    readers = {
        name: read for name, read in _NODES.items() if NODE.get(name, {}).keys() & b.kind.principals
    }
    given = b.argument(s.node, "id")

    def decoded(inputs: Inputs) -> tuple[str, int]:
        type_name, pk = decode_global_id(given(inputs))
        read = readers.get(type_name)
        if read is None:
            raise Fallback(f"node of type {type_name}")
        if read.guard is not None:
            read.guard(inputs, pk)
        return type_name, pk

    type_p = b.param(lambda inputs: decoded(inputs)[0], "text")
    pk_p = b.param(lambda inputs: decoded(inputs)[1], "bigint")
    cases: list[str] = []
    for name, read in readers.items():
        c = b.alias()
        opened, b.opened = b.opened, read.opened
        try:
            body = b.object(name, c, s.selection_set)
        finally:
            b.opened = opened
        source = read.source(b).format(c=c, pk=pk_p)
        cases.append(f"WHEN {type_p} = '{name}' THEN (SELECT {body} {source})")
    if not cases:
        raise Fallback("no node type compiles for this actor")
    return f"CASE {' '.join(cases)} END"


# --- plans -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement and how to compute its parameters per request."""

    sql: str
    params: tuple[Getter, ...]
    table_free: bool = False
    # The statement wrapped in each kind of guard (``guarded``), built once.
    _guarded: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def values(self, inputs: Inputs) -> list[Any]:
        """The parameters for this request; ``Fallback`` when its values are not compiled."""
        return [getter(inputs) for getter in self.params]

    def guarded(self, guard: Guard) -> str:
        """The statement that also answers whether the guard holds, and its data only then:
        its last two parameters are the guard's subject and fingerprint."""
        found = self._guarded.get(guard.fingerprint_sql)
        if found is None:
            n = len(self.params)
            check = guard.check(f"${n + 1}", f"${n + 2}")
            found = (
                f"SELECT g.ok, CASE WHEN g.ok THEN ({self.sql}) END"
                f" FROM (SELECT {check} AS ok OFFSET 0) g"
            )
            self._guarded[guard.fingerprint_sql] = found
        return found


@dataclass(slots=True)
class _Planned:
    steering: tuple[str, ...]
    plans: dict[tuple[Any, ...], Plan | None] = field(default_factory=dict)


_PLANS: dict[tuple[str, str | None, ActorKind], _Planned | None] = {}
_PLANS_MAX = 1024
_built = [0]  # how many plans were built


def plans_built() -> int:
    """How many plans this process built (a document asked again builds none)."""
    return _built[0]


def document_key(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def plan_for(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    operation_name: str | None,
    kind: ActorKind,
    variables: dict[str, Any],
) -> Plan | None:
    """The plan of this operation for this actor kind, or None when it does not compile."""
    key = (document_key(query), operation_name, kind)
    entry = _PLANS.get(key, ...)
    if entry is ...:
        operation = operation_of(document, operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            entry = None
        else:
            entry = _Planned(_steering_variables(operation, document))
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = entry
    if entry is None:
        return None
    steering = tuple(variables.get(name) for name in entry.steering)
    found = entry.plans.get(steering, ...)
    if found is ...:
        operation = operation_of(document, operation_name)
        assert operation is not None
        try:
            found = _compile(
                schema, document, operation, kind, dict(zip(entry.steering, steering, strict=True))
            )
        except Fallback as reason:
            log.debug("operation %s runs standard: %s", operation_name, reason)
            found = None
        entry.plans[steering] = found
    return found


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if name is None or (operation.name is not None and operation.name.value == name):
            return operation
    return None


def _steering_variables(
    operation: OperationDefinitionNode, document: DocumentNode
) -> tuple[str, ...]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
            return
        for directive in getattr(node, "directives", None) or ():
            for argument in directive.arguments:
                if isinstance(argument.value, VariableNode):
                    names.add(argument.value.name.value)
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            walk(selection_set.selections)

    walk(operation)
    walk([d for d in document.definitions if isinstance(d, FragmentDefinitionNode)])
    return tuple(sorted(names))


def _compile(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    kind: ActorKind,
    steering: dict[str, Any],
) -> Plan:
    _built[0] += 1
    b = Builder(schema, document, operation, kind, steering)
    pairs: list[str] = []
    table_free = True
    for selected in b.fields("Query", operation.selection_set):
        if selected.name == "__typename":
            pairs.append(f"'{selected.key}', 'Query'")
            continue
        table_free = table_free and selected.name in builder.TABLE_FREE
        read = builder.ROOTS.get(selected.name)
        if read is None:
            raise Fallback(f"Query.{selected.name}")
        if not ROOT.get("Query", {}).get(selected.name, frozenset()) & kind.principals:
            raise Fallback("refused by the policy: its error is the standard executor's")
        pairs.append(f"{quote(selected.key)}, {read(b, '', selected)}")
    return Plan(f"SELECT {build_object(pairs)}::text", tuple(b.params), table_free)


async def read(plan: Plan, values: list[Any], guard: Guard | None = None) -> str | None:
    """Run a plan: its one statement's value, the operation's ``data`` as JSON text. With the
    guard of a kept actor (``resolvers.credentials``), None when the rows it was built from
    changed: nothing was read for it. At most ``compiled_reads_in_flight`` run at once
    (``_admitted``)."""
    connection = connections.get("default")
    async with _admitted():
        if guard is None:
            _, rows = await connection.execute_query(plan.sql, values)
            return str(rows[0][0])
        _, rows = await connection.execute_query(
            plan.guarded(guard), [*values, guard.subject, guard.fingerprint]
        )
    return str(rows[0][1]) if rows[0][0] else None


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _admitted() -> contextlib.AbstractAsyncContextManager[Any]:
    """A place among the compiled reads running now in this process (per event loop).

    Why: a compiled screen is one statement of 1-2 ms of PostgreSQL CPU; clients that read in
    closed loops (a dashboard refreshed as soon as it arrives) keep as many backends busy as
    they have requests in flight, and on a database host with few cores the writes and the
    live deliveries then wait behind them in the scheduler's queue (``bench load``: eight such
    dashboards held two PostgreSQL backends running on average, and a request's delivery
    waited for them). Bounded, the reads beyond the bound wait in the process, which costs no
    database CPU, and PostgreSQL gives the rest of its cores to everything else; the reads'
    throughput is what the cores allow either way.
    """
    bound = settings().compiled_reads_in_flight
    if not bound:
        return contextlib.nullcontext()
    loop = asyncio.get_running_loop()
    gate = _GATES.get(loop)
    if gate is None or gate[0] != bound:
        gate = _GATES[loop] = (bound, asyncio.Semaphore(bound))
    return gate[1]


declare_root("node", _node)
