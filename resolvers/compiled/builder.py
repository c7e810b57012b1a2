"""The compiler's state and the declarations it reads: how each GraphQL type and root field
of a domain reads in SQL (``declare_type``, ``declare_root``, ``declare_node``), and the walk
of a selection set (fragments, directives, merged response keys) as graphql-core walks it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
    SelectionSetNode,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
)

from resolvers.actor import Actor
from resolvers.authentication import Profile
from resolvers.policy import Principal, principals_of


class Fallback(Exception):
    """This operation (or these values) is left to the standard executor."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a plan's parameters are computed from, per request."""

    actor: Actor
    variables: dict[str, Any]
    # The user's row as read while authenticating this request, if it was.
    profile: Profile | None = None
    # A live event's envelope, for a subscription's payload (``resolvers.compiled.live``).
    event: dict[str, Any] | None = None


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
        reads = TYPES.get(type_name)
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
            pairs.append(f"{quote(selected.key)}, {read(self, alias, selected)}")
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

TYPES: dict[str, dict[str, Read]] = {}
ROOTS: dict[str, Read] = {}


def declare_type(type_name: str, fields: dict[str, Read]) -> None:
    """How each field of a GraphQL object type reads from its row."""
    TYPES.setdefault(type_name, {}).update(fields)


TABLE_FREE: set[str] = set()


def declare_root(field_name: str, read: Read, *, table_free: bool = False) -> None:
    """How a root query field reads; ``table_free`` when it reads only what authentication
    already read (an operation of such fields only is left to the standard executor, which
    answers it without a statement)."""
    ROOTS[field_name] = read
    if table_free:
        TABLE_FREE.add(field_name)


def readers_only(read: Read) -> Read:
    """``Actor.require_reader``: staff and partner keys acting in a marketplace compile; any
    other actor falls back to the standard executor (which refuses it)."""

    def gated(b: Builder, alias: str, s: Selected) -> str:
        if not (b.kind.in_marketplace and b.kind.whole_marketplace):
            raise Fallback("not a reader of the marketplace")
        return read(b, alias, s)

    return gated


def build_object(pairs: list[str]) -> str:
    if not pairs:
        return "json_build_object()"
    chunks = [pairs[i : i + 50] for i in range(0, len(pairs), 50)]  # 100 arguments at most
    if len(chunks) == 1:
        return f"json_build_object({', '.join(pairs)})"
    merged = " || ".join(f"jsonb_build_object({', '.join(c)})" for c in chunks)
    return f"({merged})::json"


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
