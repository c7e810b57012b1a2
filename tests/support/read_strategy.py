"""Random read documents built from the schema's Query type (a hypothesis strategy).

Each document selects one to three root fields with random subsets of their fields, nested a
few levels (a few on purpose past the server's depth or alias limits, to compare the limit
errors), with aliases (the same field twice with other arguments among them), named
fragments, inline fragments on concrete types and on interfaces (``Node``), ``__typename``,
``@include``/``@skip`` on variables, variables with and without defaults, connection
arguments with cursors from earlier pages, and IDs that are the world's, another
marketplace's, or malformed. Documents are valid GraphQL; the caller checks with graphql-core.
"""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)
from hypothesis import strategies as st

from tests.support.read_documents import ID_ARGUMENTS, MALFORMED_ID, Pools

# Root fields that read no data of the world (introspection is not the compiler's).
_SKIPPED_ROOTS = frozenset({"__schema", "__type", "__typename"})
# Scalars no read argument takes inline.
_UNSUPPORTED_INPUTS = frozenset({"Upload", "JSON"})


@dataclass(frozen=True)
class Generated:
    document: str
    variables: dict[str, Any]
    actor: str
    # What the document uses, for coverage figures.
    features: frozenset[str]


@dataclass
class _Builder:
    draw: Any
    schema: GraphQLSchema
    pools: Pools
    max_depth: int
    aliases_wanted: bool
    deep: bool = False
    definitions: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    fragments: list[str] = field(default_factory=list)
    features: set[str] = field(default_factory=set)
    counter: Any = field(default_factory=itertools.count)

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    # --- selections ---------------------------------------------------------------------

    def selection_set(self, type_: Any, depth: int) -> str:
        """``{ ... }`` for a composite type, the response keys kept apart."""
        if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
            parts = self.abstract(type_, depth)
        else:
            parts = self.object_fields(type_, depth, set())
            if "id" in type_.fields and self.draw(st.integers(0, 9)) == 0:
                # An inline fragment on an interface the object implements.
                interfaces = [i for i in type_.interfaces if "id" in i.fields]
                if interfaces:
                    self.features.add("inline fragment on interface")
                    parts.append(f"... on {interfaces[0].name} {{ nodeId{depth}: id }}")
        if self.draw(st.integers(0, 6)) == 0 and parts:
            self.features.add("named fragment")
            fragment = self.name("F")
            self.fragments.append(f"fragment {fragment} on {type_.name} {{ {' '.join(parts)} }}")
            parts = [f"...{fragment}"]
        return "{ " + " ".join(parts) + " }"

    def abstract(self, type_: Any, depth: int) -> list[str]:
        parts: list[str] = []
        if isinstance(type_, GraphQLInterfaceType):
            parts += self.object_fields(type_, depth, set(), leaves_only=True)
        if self.draw(st.booleans()):
            parts.append("__typename")
            self.features.add("__typename")
        possible = sorted(self.schema.get_possible_types(type_), key=lambda t: t.name)
        if self.deep:
            possible = [t for t in possible if t.name in _unbounded(self.schema)] or possible
        chosen = self.draw(
            st.lists(st.sampled_from(possible), min_size=1, max_size=2, unique_by=lambda t: t.name)
        )
        for concrete in chosen:
            self.features.add("inline fragment on concrete type")
            # Keys unique across the fragments: two types' ``status`` are of other types.
            inner = self.object_fields(concrete, depth, set(), prefix=concrete.name[:3].lower())
            parts.append(f"... on {concrete.name} {{ {' '.join(inner)} }}")
        return parts or ["__typename"]

    def object_fields(
        self,
        type_: Any,
        depth: int,
        keys: set[str],
        *,
        leaves_only: bool = False,
        prefix: str = "",
    ) -> list[str]:
        usable = {
            n: f
            for n, f in type_.fields.items()
            if self.arguments_possible(f) and n != "__typename"
        }
        leaves = [n for n, f in usable.items() if self.leaf(f)]
        composites = [n for n, f in usable.items() if not self.leaf(f)]
        if leaves_only or depth >= self.max_depth:
            composites = []
        names = self.draw(
            st.lists(
                st.sampled_from(sorted(leaves + composites) or ["__typename"]),
                min_size=1,
                max_size=4 if depth < 2 else 2,
                unique=True,
            )
        )
        if depth >= 2:  # one branch further down, or the document grows exponentially
            names = [n for n in names if n not in composites] + [
                n for n in names if n in composites
            ][:1]
        if self.deep:  # on towards a cycle of types, past the depth limit
            onwards = [n for n in composites if _named(usable[n].type) in _unbounded(self.schema)]
            if onwards and not any(n in onwards for n in names):
                names.append(self.draw(st.sampled_from(sorted(onwards))))
        if not any(n in leaves or n == "__typename" for n in names) and leaves:
            names.append(self.draw(st.sampled_from(sorted(leaves))))
        parts: list[str] = []
        for n in names:
            if n == "__typename":
                parts.append(self.keyed("__typename", "__typename", keys, prefix))
                continue
            parts.append(self.field(n, usable[n], depth, keys, prefix))
            if self.aliases_wanted and usable[n].args and self.draw(st.integers(0, 2)) == 0:
                # The same field again with other arguments, under another key.
                self.features.add("same field twice")
                parts.append(self.field(n, usable[n], depth, keys, prefix, alias=True))
        return parts

    def keyed(self, name: str, text: str, keys: set[str], prefix: str, alias: bool = False) -> str:
        key = name
        if prefix or alias or name in keys:
            key = self.name(f"{prefix or name}_")
        keys.add(key)
        if key != name:
            self.features.add("alias")
            return f"{key}: {text}"
        return text

    def field(
        self,
        name: str,
        definition: GraphQLField,
        depth: int,
        keys: set[str],
        prefix: str = "",
        alias: bool = False,
    ) -> str:
        alias = alias or (self.aliases_wanted and self.draw(st.integers(0, 5)) == 0)
        arguments = self.arguments(name, definition)
        text = name + (f"({arguments})" if arguments else "")
        text = self.keyed(name, text, keys, prefix, alias)
        text += self.directive()
        inner = get_named_type(definition.type)
        if not self.leaf(definition):
            text += " " + self.selection_set(inner, depth + 1)
        return text

    def directive(self) -> str:
        roll = self.draw(st.integers(0, 9))
        if roll > 1:
            return ""
        self.features.add("@include/@skip")
        variable = self.name("flag")
        value = self.draw(st.booleans())
        if self.draw(st.booleans()):
            self.features.add("variable with default")
            self.definitions.append(f"${variable}: Boolean = {str(value).lower()}")
        else:
            self.definitions.append(f"${variable}: Boolean!")
            self.variables[variable] = value
        return f" @{'include' if roll == 0 else 'skip'}(if: ${variable})"

    @staticmethod
    def leaf(definition: GraphQLField) -> bool:
        return isinstance(get_named_type(definition.type), GraphQLScalarType | GraphQLEnumType)

    # --- arguments ----------------------------------------------------------------------

    def arguments_possible(self, definition: GraphQLField) -> bool:
        return all(
            get_named_type(a.type).name not in _UNSUPPORTED_INPUTS
            or not isinstance(a.type, GraphQLNonNull)
            for a in definition.args.values()
        )

    def arguments(self, field_name: str, definition: GraphQLField) -> str:
        given: list[str] = []
        for name, argument in definition.args.items():
            required = isinstance(argument.type, GraphQLNonNull)
            if get_named_type(argument.type).name in _UNSUPPORTED_INPUTS:
                continue
            if not required and self.draw(st.integers(0, 2)) != 0:
                continue
            value = self.value(field_name, name, argument.type)
            if self.draw(st.integers(0, 2)) == 0:
                variable = self.name("v")
                self.features.add("variables")
                if not required and self.draw(st.booleans()):
                    self.features.add("variable with default")
                    literal = _literal(value, argument.type)
                    self.definitions.append(f"${variable}: {argument.type} = {literal}")
                else:
                    self.definitions.append(f"${variable}: {argument.type}")
                    self.variables[variable] = value
                given.append(f"{name}: ${variable}")
            else:
                given.append(f"{name}: {_literal(value, argument.type)}")
        return ", ".join(given)

    def value(self, field_name: str, name: str, type_: Any) -> Any:
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            count = self.draw(st.integers(1, 3))
            return [self.value(field_name, name, type_.of_type) for _ in range(count)]
        if isinstance(type_, GraphQLEnumType):
            return self.draw(st.sampled_from(sorted(type_.values)))
        if isinstance(type_, GraphQLInputObjectType):
            return {
                key: self.value(field_name, key, f.type)
                for key, f in type_.fields.items()
                if isinstance(f.type, GraphQLNonNull) or self.draw(st.booleans())
            }
        return self.scalar(field_name, name, type_.name)

    def scalar(self, field_name: str, name: str, scalar: str) -> Any:
        draw, pools = self.draw, self.pools
        if scalar == "ID":
            self.features.add("ids")
            wanted = ID_ARGUMENTS.get(name)
            types = [wanted] if wanted else sorted(pools.ids_by_type)
            type_name = draw(st.sampled_from(types))
            kind = draw(st.sampled_from(["own", "foreign", "malformed", "own"]))
            if field_name in ("node", "nodes"):
                self.features.add(f"node id: {kind}")
            if kind == "foreign":
                return pools.foreign(type_name)
            if kind == "malformed":
                return draw(st.sampled_from([MALFORMED_ID, "", "1", "TWVtYmVyc2hpcA=="]))
            return draw(st.sampled_from(pools.ids(type_name)))
        if scalar == "Int":
            if name in ("first", "last"):
                self.features.add("page size")
                return draw(st.sampled_from([0, 1, 2, 3, 5, 1, 2, 100, 101, -1]))
            return draw(st.integers(-1, 5))
        if scalar == "Boolean":
            return draw(st.booleans())
        if scalar == "Float":
            return draw(st.sampled_from([0.0, 1.5, 48.85]))
        if scalar == "Date":
            return draw(st.sampled_from(pools.dates))
        if scalar == "DateTime":
            return draw(st.sampled_from([f"{d}T10:00:00+00:00" for d in pools.dates]))
        if scalar == "Decimal":
            return draw(st.sampled_from(["12.50", "0", "99.90"]))
        if name in ("after", "before"):
            self.features.add("cursor")
            return draw(st.sampled_from([*pools.cursors, "bm9wZQ==", "%%%"]))
        if name == "token":
            return draw(st.sampled_from([pools.invitation_token, "no-such-token"]))
        if name == "postalCode":
            return draw(st.sampled_from(["75011", "75", "13001", "69001", "ABCDE"]))
        return draw(st.sampled_from(["", "a", "Soci", "é", "Entreprise", "☂"]))


def _named(type_: Any) -> str:
    return str(get_named_type(type_).name)


@functools.cache
def _unbounded(schema: GraphQLSchema) -> frozenset[str]:
    """Composite types from which selections can go on for ever (a cycle of types is below)."""
    composite = GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
    below: dict[str, set[str]] = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, composite) or type_.name.startswith("__"):
            continue
        found = {t.name for t in getattr(type_, "types", ())}
        for f in getattr(type_, "fields", {}).values():
            if isinstance(get_named_type(f.type), composite):
                found.add(_named(f.type))
        if isinstance(type_, GraphQLInterfaceType):
            found |= {t.name for t in schema.get_possible_types(type_)}
        below[type_.name] = found
    changed = True
    while changed:  # the transitive closure
        changed = False
        for name, found in below.items():
            wider = found.union(*(below.get(t, set()) for t in found))
            if wider != found:
                below[name], changed = wider, True
    cyclic = {name for name, found in below.items() if name in found}
    return frozenset(name for name, found in below.items() if found & cyclic or name in cyclic)


def _literal(value: Any, type_: Any) -> str:
    """``value`` written in GraphQL for an argument of ``type_``."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if value is None:
        return "null"
    if isinstance(type_, GraphQLList):
        return "[" + ", ".join(_literal(v, type_.of_type) for v in value) + "]"
    if isinstance(type_, GraphQLInputObjectType):
        fields = (f"{k}: {_literal(v, type_.fields[k].type)}" for k, v in value.items())
        return "{" + ", ".join(fields) + "}"
    if isinstance(type_, GraphQLEnumType):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


@st.composite
def read_documents(
    draw: Any, schema: GraphQLSchema, pools: Pools, allowed: dict[str, tuple[str, ...]]
) -> Any:
    """A valid read document, the variables to send with it, and who sends it: ``allowed``
    names, for each root field, the principals the policy lets call it (most documents are
    sent by one of them; the others, to compare refusals)."""
    over_limits = draw(st.integers(0, 29)) == 0
    deep = over_limits and draw(st.booleans())
    builder = _Builder(
        draw=draw,
        schema=schema,
        pools=pools,
        max_depth=12 if over_limits else draw(st.integers(1, 4)),
        aliases_wanted=draw(st.booleans()),
        deep=deep,
    )
    query = schema.query_type
    assert query is not None
    roots = sorted(n for n in query.fields if n not in _SKIPPED_ROOTS)
    if deep:
        roots = [n for n in roots if _named(query.fields[n].type) in _unbounded(schema)]
    chosen = draw(st.lists(st.sampled_from(roots), min_size=1, max_size=3, unique=True))
    keys: set[str] = set()
    parts = [builder.field(n, query.fields[n], 0, keys) for n in chosen]
    if over_limits and not deep:
        builder.features.add("over the alias limit")
        parts += [f"t{i}: __typename" for i in range(20)]
    elif deep:
        builder.features.add("deep")
    if draw(st.integers(0, 4)) == 0:
        parts.append("__typename")
    head = "query"
    if draw(st.booleans()):
        head += " " + builder.name("Read")
    if builder.definitions:
        head += "(" + ", ".join(builder.definitions) + ")"
    text = "\n".join([head + " { " + " ".join(parts) + " }", *builder.fragments])
    everyone = sorted({a for names in allowed.values() for a in names})
    entitled = sorted(set.intersection(*(set(allowed.get(n, ())) for n in chosen)))
    actor = draw(st.sampled_from(entitled if entitled and draw(st.integers(0, 2)) else everyone))
    return Generated(text, builder.variables, actor, frozenset(builder.features))
