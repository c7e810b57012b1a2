"""The compiled read path: a validated query operation turned into one PostgreSQL statement
whose single value is the operation's ``data`` object, as JSON.

Why: the standard executor resolves every field of a screen in Python (graphql-core's walk,
models, loaders); the same rows read as one statement built with ``json_build_object``,
``json_agg`` and correlated subqueries cost the server one round trip and the bytes. As in
pg_graphql and PostGraphile, the document is compiled, not interpreted; unlike them, whatever
cannot be proved to give the standard executor's exact answer is not compiled at all.

What compiles: the root fields and types that a domain declares here (``declare_root``,
``declare_type``, next to the domain's read use cases, so a rule of who sees what sits beside
the one the loaders apply), with aliases, named fragments and inline fragments on the concrete
type, ``__typename``, variables (defaults included), ``@include``/``@skip``, lists and
nullable objects. Anything else raises ``Fallback`` while planning, and the operation runs
through the standard executor: an undeclared field, an argument the declaration does not
take, an actor the policy would refuse. Values that only the request knows (a page size out
of range, a malformed cursor, a filter the declaration leaves to Python) raise ``Fallback``
when the parameters are computed, before any statement: the standard executor then gives
its exact answer, error included.

A plan is cached per (document, operation, actor kind, values of the variables that steer
``@include``/``@skip``): a second request of the same document does no planning work, only
computes its parameters (``Plan.values``) and runs ``Plan.sql``.

Encodings follow what strawberry writes: Relay global ids are standard base64 of
``Type:id``, cursors URL-safe base64 of ``k:id`` (``resolvers.pagination``), datetimes
Python's ``isoformat()`` of an aware UTC datetime (microseconds only when not zero), dates
``YYYY-MM-DD``, decimals their text.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
)
from tortoise import connections

from resolvers.actor import Actor
from resolvers.authentication import Profile
from resolvers.policy import NODE, ROOT, Principal, principals_of

log = logging.getLogger("presta.compiled")


class Fallback(Exception):
    """This operation (or these values) is left to the standard executor."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a plan's parameters are computed from, per request."""

    actor: Actor
    variables: dict[str, Any]
    # The user's row as read while authenticating this request, if it was.
    profile: Profile | None = None


Getter = Callable[[Inputs], Any]


@dataclass(frozen=True, slots=True)
class ActorKind:
    """What a plan may depend on of the actor: the policy's principals and the shape of its
    access. Everything else about the actor (its ids) is a parameter."""

    principals: frozenset[Principal]
    authenticated: bool
    user: bool
    in_marketplace: bool
    whole_marketplace: bool
    provider: bool
    platform_admin: bool


def kind_of(actor: Actor) -> ActorKind:
    return ActorKind(
        principals=principals_of(actor),
        authenticated=actor.is_authenticated,
        user=actor.user_id is not None,
        in_marketplace=actor.marketplace_id is not None,
        whole_marketplace=actor.sees_whole_marketplace,
        provider=actor.membership_id is not None,
        platform_admin=actor.is_platform_admin,
    )


class Builder:
    """The state of one compilation: parameters, aliases, fragments, directive values."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        kind: ActorKind,
        steering: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.kind = kind
        self.steering = steering
        self.params: list[Getter] = []
        self._aliases = 0
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.operation = operation
        # Rows of a file (Membership) reached from a root that selects only files the actor
        # opens (``resolvers.membership.sees_file``); False under ``node(id:)``.
        self.opened = True

    def param(self, getter: Getter, cast: str) -> str:
        """A placeholder for a value computed per request, cast to ``cast``."""
        self.params.append(getter)
        return f"${len(self.params)}::{cast}"

    def alias(self) -> str:
        self._aliases += 1
        return f"t{self._aliases}"

    # --- arguments -------------------------------------------------------------------------

    def argument(self, node: FieldNode, name: str, default: Any = None) -> Getter:
        """The value of an argument per request (a literal, or a variable's value)."""
        for argument in node.arguments or ():
            if argument.name.value == name:
                return _value_getter(argument.value)
        return lambda _inputs: default

    def arguments_absent(self, node: FieldNode, allowed: Iterable[str]) -> list[Getter]:
        """Getters that raise ``Fallback`` when an argument outside ``allowed`` has a value."""
        checks: list[Getter] = []
        wanted = set(allowed)
        for argument in node.arguments or ():
            if argument.name.value in wanted:
                continue
            value = argument.value
            if isinstance(value, NullValueNode):
                continue
            if not isinstance(value, VariableNode):
                raise Fallback(f"argument {argument.name.value}")
            checks.append(_must_be_null(value.name.value))
        return checks

    # --- selections ------------------------------------------------------------------------

    def fields(self, type_name: str, selection_set: SelectionSetNode | None) -> list[Selected]:
        """The fields selected on an object of ``type_name``, by response key, merged as
        graphql-core merges them (same key, sub-selections together), in document order."""
        found: dict[str, Selected] = {}
        if selection_set is not None:
            self._collect(type_name, selection_set, found, set())
        return list(found.values())

    def _collect(
        self,
        type_name: str,
        selection_set: SelectionSetNode,
        found: dict[str, Selected],
        spread: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                if key in found:
                    found[key].nodes.append(selection)
                else:
                    found[key] = Selected(key, selection.name.value, [selection])
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._applies(condition.name.value, type_name):
                    self._collect(type_name, selection.selection_set, found, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:
                    continue
                if self._applies(fragment.type_condition.name.value, type_name):
                    self._collect(type_name, fragment.selection_set, found, spread | {name})

    def _applies(self, condition: str, type_name: str) -> bool:
        """graphql-core's rule: a fragment applies to its own type and to the object types
        of the interface or union it names."""
        if condition == type_name:
            return True
        abstract = self.schema.get_type(condition)
        concrete = self.schema.get_type(type_name)
        if not isinstance(abstract, GraphQLInterfaceType | GraphQLUnionType):
            return False
        if not isinstance(concrete, GraphQLObjectType):
            raise Fallback(f"fragment on {condition} inside {type_name}")
        return self.schema.is_sub_type(abstract, concrete)

    def _included(self, selection: Any) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("include", "skip"):
                raise Fallback(f"directive @{name}")
            condition = next(a.value for a in directive.arguments if a.name.value == "if")
            if isinstance(condition, BooleanValueNode):
                value = condition.value
            elif isinstance(condition, VariableNode):
                value = bool(self.steering.get(condition.name.value))
            else:
                raise Fallback("directive argument")
            if (name == "include") != value:
                return False
        return True

    def object(self, type_name: str, alias: str, selection_set: SelectionSetNode | None) -> str:
        """``json_build_object`` of the selected fields of a row ``alias`` of ``type_name``."""
        reads = _TYPES.get(type_name)
        if reads is None:
            raise Fallback(f"type {type_name}")
        pairs: list[str] = []
        for selected in self.fields(type_name, selection_set):
            if selected.name == "__typename":
                pairs.append(f"'{selected.key}', '{type_name}'")
                continue
            read = reads.get(selected.name)
            if read is None:
                raise Fallback(f"{type_name}.{selected.name}")
            pairs.append(f"{_quote(selected.key)}, {read(self, alias, selected)}")
        return build_object(pairs)


@dataclass(slots=True)
class Selected:
    """A response key: its field name and every node that asks for it."""

    key: str
    name: str
    nodes: list[FieldNode]

    @property
    def node(self) -> FieldNode:
        return self.nodes[0]

    @property
    def selection_set(self) -> SelectionSetNode | None:
        sets = [n.selection_set for n in self.nodes if n.selection_set is not None]
        if not sets:
            return None
        if len(sets) == 1:
            return sets[0]
        return SelectionSetNode(selections=tuple(s for each in sets for s in each.selections))


# A declared field: the SQL expression of its JSON value, given the builder, the alias of the
# parent row (empty at the root) and the selection.
Read = Callable[[Builder, str, Selected], str]

_TYPES: dict[str, dict[str, Read]] = {}
_ROOTS: dict[str, Read] = {}


def declare_type(type_name: str, fields: dict[str, Read]) -> None:
    """How each field of a GraphQL object type reads from its row."""
    _TYPES.setdefault(type_name, {}).update(fields)


_TABLE_FREE: set[str] = set()


def declare_root(field_name: str, read: Read, *, table_free: bool = False) -> None:
    """How a root query field reads; ``table_free`` when it reads only what authentication
    already read (an operation of such fields only is left to the standard executor, which
    answers it without a statement)."""
    _ROOTS[field_name] = read
    if table_free:
        _TABLE_FREE.add(field_name)


# --- building blocks for declarations ----------------------------------------------------


def build_object(pairs: list[str]) -> str:
    if not pairs:
        return "json_build_object()"
    chunks = [pairs[i : i + 50] for i in range(0, len(pairs), 50)]  # 100 arguments at most
    if len(chunks) == 1:
        return f"json_build_object({', '.join(pairs)})"
    merged = " || ".join(f"jsonb_build_object({', '.join(c)})" for c in chunks)
    return f"({merged})::json"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def column(template: str, kind: str = "plain") -> Read:
    """A value of the row: ``template`` with ``{t}`` the row's alias, encoded as ``kind``."""

    def read(_b: Builder, alias: str, _s: Selected) -> str:
        return encode(template.format(t=alias), kind)

    return read


def encode(sql: str, kind: str) -> str:
    """``sql`` as strawberry writes a value of that kind in JSON."""
    if kind == "datetime":
        return iso_datetime(sql)
    if kind == "date":
        return f"to_char({sql}, 'YYYY-MM-DD')"
    if kind == "decimal":
        return f"({sql})::text"
    return sql


def iso_datetime(sql: str) -> str:
    """Python's ``datetime.isoformat()`` of a UTC timestamptz (null stays null)."""
    utc = f"({sql}) AT TIME ZONE 'UTC'"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN extract(microseconds FROM {utc})::bigint % 1000000 = 0 THEN '' "
        f"ELSE to_char({utc}, '.US') END || '+00:00')"
    )


def global_id(type_name: str, key_sql: str) -> str:
    """strawberry's Relay global id: base64 of ``Type:id`` (no line breaks)."""
    return (
        f"translate(encode(convert_to('{type_name}:' || ({key_sql})::text, 'UTF8'), "
        f"'base64'), E'\\n', '')"
    )


def cursor(key_sql: str) -> str:
    """``resolvers.pagination.encode_cursor``: URL-safe base64 of ``k:id``."""
    return (
        f"translate(encode(convert_to('k:' || ({key_sql})::text, 'UTF8'), 'base64'), "
        f"E'+/\\n', '-_')"
    )


def node_id(type_name: str, key: str = "{t}.id") -> Read:
    def read(_b: Builder, alias: str, _s: Selected) -> str:
        return global_id(type_name, key.format(t=alias))

    return read


def one(type_name: str, source: str) -> Read:
    """A related object or null: ``source`` is ``FROM … WHERE …`` with ``{t}`` the parent and
    ``{c}`` the child's alias."""

    def read(b: Builder, alias: str, s: Selected) -> str:
        child = b.alias()
        body = b.object(type_name, child, s.selection_set)
        return f"(SELECT {body} {source.format(t=alias, c=child)})"

    return read


def many(type_name: str, source: str, order: str) -> Read:
    """A list of objects, never null: ``order`` with ``{c}`` the child's alias."""

    def read(b: Builder, alias: str, s: Selected) -> str:
        child = b.alias()
        body = b.object(type_name, child, s.selection_set)
        return (
            f"COALESCE((SELECT json_agg({body} ORDER BY {order.format(c=child)}) "
            f"{source.format(t=alias, c=child)}), '[]'::json)"
        )

    return read


def page_size(max_size: Callable[[], int], first: Getter) -> Getter:
    """``first`` checked as ``keyset_page`` checks it: out of range is left to it."""

    def size(inputs: Inputs) -> int:
        value = first(inputs)
        if value is None:
            return 20
        if not isinstance(value, int) or not 0 <= value <= max_size():
            raise Fallback("page size")
        return value

    return size


def after_key(decode: Callable[[str], int], after: Getter) -> Getter:
    def key(inputs: Inputs) -> int | None:
        value = after(inputs)
        if value is None:
            return None
        try:
            found = decode(value)
        except Exception:
            raise Fallback("cursor") from None
        if not -(2**63) <= found < 2**63:
            raise Fallback("cursor past BIGINT")
        return found

    return key


def keyset_connection(
    node_type: str,
    rows: str,
    *,
    max_size: Callable[[], int],
    decode_cursor: Callable[[str], int],
    extra: Callable[[Builder, Selected], dict[str, str]] | None = None,
    allowed: tuple[str, ...] = ("first", "after"),
) -> Read:
    """A connection read forward, newest first, by id: ``rows`` is ``FROM … WHERE …`` over
    ``{c}`` (the parent ``{t}``; ``{p:name}`` a placeholder from ``extra``)."""

    def read(b: Builder, alias: str, s: Selected) -> str:
        node = s.node
        checks = b.arguments_absent(node, allowed)
        size = page_size(max_size, b.argument(node, "first"))
        after = after_key(decode_cursor, b.argument(node, "after"))

        def checked_size(inputs: Inputs) -> int:
            for check in checks:
                check(inputs)
            found: int = size(inputs)
            return found

        n = b.param(checked_size, "int")
        after_p = b.param(after, "bigint")
        named = extra(b, s) if extra is not None else {}
        child, kept = b.alias(), b.alias()
        filled = {name: sql.format(t=alias, c=child) for name, sql in named.items()}
        source = rows.format(t=alias, c=child, **filled)
        fetched = (
            f"SELECT {child}.* {source} AND ({after_p} IS NULL OR {child}.id < {after_p}) "
            f"ORDER BY {child}.id DESC LIMIT {n} + 1"
        )
        pairs: list[str] = []
        for part in b.fields(f"{node_type}Connection", s.selection_set):
            if part.name == "__typename":
                pairs.append(f"'{part.key}', '{node_type}Connection'")
            elif part.name == "pageInfo":
                pairs.append(f"{_quote(part.key)}, {_page_info(b, part, kept, n, after_p)}")
            elif part.name in ("edges", "nodes"):
                pairs.append(f"{_quote(part.key)}, {_items(b, node_type, part, kept, n)}")
            else:
                raise Fallback(f"{node_type}Connection.{part.name}")
        return f"(WITH {kept} AS ({fetched}) SELECT {build_object(pairs)})"

    return read


def _kept(kept: str, n: str) -> str:
    return f"(SELECT * FROM {kept} ORDER BY id DESC LIMIT {n})"


def _page_info(b: Builder, part: Selected, kept: str, n: str, after: str) -> str:
    pairs: list[str] = []
    for info in b.fields("PageInfo", part.selection_set):
        key = _quote(info.key)
        if info.name == "__typename":
            pairs.append(f"{key}, 'PageInfo'")
        elif info.name == "hasNextPage":
            pairs.append(f"{key}, (SELECT count(*) FROM {kept}) > {n}")
        elif info.name == "hasPreviousPage":
            pairs.append(f"{key}, {after} IS NOT NULL")
        elif info.name in ("startCursor", "endCursor"):
            direction = "DESC" if info.name == "startCursor" else "ASC"
            pairs.append(
                f"{key}, (SELECT {cursor('k.id')} FROM {_kept(kept, n)} k "
                f"ORDER BY k.id {direction} LIMIT 1)"
            )
        else:
            raise Fallback(f"PageInfo.{info.name}")
    return build_object(pairs)


def _items(b: Builder, node_type: str, part: Selected, kept: str, n: str) -> str:
    row = b.alias()
    if part.name == "nodes":
        body = b.object(node_type, row, part.selection_set)
    else:
        pairs: list[str] = []
        for piece in b.fields(f"{node_type}Edge", part.selection_set):
            key = _quote(piece.key)
            if piece.name == "__typename":
                pairs.append(f"{key}, '{node_type}Edge'")
            elif piece.name == "cursor":
                pairs.append(f"{key}, {cursor(f'{row}.id')}")
            elif piece.name == "node":
                pairs.append(f"{key}, {b.object(node_type, row, piece.selection_set)}")
            else:
                raise Fallback(f"{node_type}Edge.{piece.name}")
        body = build_object(pairs)
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {row}.id DESC) "
        f"FROM {_kept(kept, n)} {row}), '[]'::json)"
    )


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


# --- values ------------------------------------------------------------------------------


def _value_getter(value: ValueNode) -> Getter:
    if isinstance(value, VariableNode):
        name = value.name.value
        return lambda inputs: inputs.variables.get(name)
    if any(isinstance(v, VariableNode) for v in _walk(value)):
        raise Fallback("variable inside a literal")
    literal = value_from_ast_untyped(value)
    return lambda _inputs: literal


def _walk(value: ValueNode) -> list[ValueNode]:
    found = [value]
    for child in getattr(value, "values", ()) or ():
        found.extend(_walk(child))
    for child in getattr(value, "fields", ()) or ():
        found.extend(_walk(child.value))
    return found


def _must_be_null(variable: str) -> Getter:
    def check(inputs: Inputs) -> None:
        if inputs.variables.get(variable) is not None:
            raise Fallback(f"${variable} given")

    return check


# --- plans -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement and how to compute its parameters per request."""

    sql: str
    params: tuple[Getter, ...]
    table_free: bool = False

    def values(self, inputs: Inputs) -> list[Any]:
        """The parameters for this request; ``Fallback`` when its values are not compiled."""
        return [getter(inputs) for getter in self.params]


@dataclass(slots=True)
class _Planned:
    steering: tuple[str, ...]
    plans: dict[tuple[Any, ...], Plan | None] = field(default_factory=dict)


_PLANS: dict[tuple[str, str | None, ActorKind], _Planned | None] = {}
_PLANS_MAX = 1024
planned = 0  # how many plans were built (for tests: a cached document builds none)


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
            log.info("operation %s runs standard: %s", operation_name, reason)
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
    global planned
    planned += 1
    b = Builder(schema, document, operation, kind, steering)
    pairs: list[str] = []
    table_free = True
    for selected in b.fields("Query", operation.selection_set):
        if selected.name == "__typename":
            pairs.append(f"'{selected.key}', 'Query'")
            continue
        table_free = table_free and selected.name in _TABLE_FREE
        read = _ROOTS.get(selected.name)
        if read is None:
            raise Fallback(f"Query.{selected.name}")
        if not ROOT.get("Query", {}).get(selected.name, frozenset()) & kind.principals:
            raise Fallback("refused by the policy: its error is the standard executor's")
        pairs.append(f"{_quote(selected.key)}, {read(b, '', selected)}")
    return Plan(f"SELECT {build_object(pairs)}::text", tuple(b.params), table_free)


async def read(plan: Plan, values: list[Any]) -> str:
    """Run a plan: its one statement's value, the operation's ``data`` as JSON text."""
    connection = connections.get("default")
    _, rows = await connection.execute_query(plan.sql, values)
    return str(rows[0][0])


declare_root("node", _node)
