"""What any answer to a read must satisfy, whichever executor gave it.

``shape_problems``: the answer fits the document and the schema: exactly the selected keys
(once ``@include``/``@skip`` and fragment type conditions are applied), no null where the
schema says non-null, scalars of their type, enum values of their enum, data null only
with an error saying why, and every error with a code, none of them an unexpected error.

``leaks``: nothing of the other marketplace (its objects' global IDs, its text) appears in
the answer of a principal acting in one marketplace.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    is_abstract_type,
    value_from_ast,
    value_from_ast_untyped,
)

from tests.support.reads_world import SECRET_OF_B, ReadsWorld, acting_marketplace

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "Int": (int,),
    "Float": (int, float),
    "String": (str,),
    "ID": (str,),
    "Boolean": (bool,),
    "Date": (str,),
    "DateTime": (str,),
    "Decimal": (str,),
}


class _Walk:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables: dict[str, Any] = {}
        self.problems: list[str] = []

    def included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("include", "skip"):
                continue
            [argument] = directive.arguments or ()
            value = argument.value
            flag = (
                self.variables.get(value.name.value)
                if isinstance(value, VariableNode)
                else value_from_ast(value, self.schema.get_type("Boolean"))  # type: ignore[arg-type]
            )
            if (name == "include") != bool(flag):
                return False
        return True

    def applies(self, condition: str | None, parent: Any, runtime: Any) -> bool | None:
        """Whether a fragment on ``condition`` applies; None when it cannot be told (an
        abstract type answered without ``__typename``)."""
        if condition is None or condition == parent.name:
            return True
        if runtime is None:
            return None
        fragment_type = self.schema.get_type(condition)
        if fragment_type is runtime:
            return True
        return is_abstract_type(fragment_type) and self.schema.is_sub_type(
            fragment_type,
            runtime,
        )

    def collect(
        self, selection_set: SelectionSetNode, parent: Any, runtime: Any, certain: bool = True
    ) -> Iterator[tuple[str, FieldNode, bool]]:
        """``(response key, field, certainly selected)`` for the object's type."""
        for selection in selection_set.selections:
            if not self.included(selection):  # type: ignore[arg-type]
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                yield key, selection, certain
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = selection.selection_set
            else:
                assert isinstance(selection, FragmentSpreadNode)
                fragment = self.fragments[selection.name.value]
                condition, inner = fragment.type_condition, fragment.selection_set
            applies = self.applies(condition.name.value if condition else None, parent, runtime)
            if applies is not False:
                yield from self.collect(inner, parent, runtime, certain and bool(applies))

    def check(self, selection_set: SelectionSetNode, parent: Any, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.problems.append(f"{path}: an object was expected, got {value!r}")
            return
        runtime: Any = parent if isinstance(parent, GraphQLObjectType) else None
        if runtime is None and isinstance(value.get("__typename"), str):
            runtime = self.schema.get_type(value["__typename"])
            if runtime is None or not self.schema.is_sub_type(parent, runtime):
                self.problems.append(f"{path}: __typename {value['__typename']!r} not a {parent}")
                return
        fields: dict[str, tuple[FieldNode, bool]] = {}
        for key, node, certain in self.collect(selection_set, parent, runtime):
            known = fields.get(key)
            fields[key] = (node, certain or (known is not None and known[1]))
        missing = [k for k, (_, certain) in fields.items() if certain and k not in value]
        extra = [k for k in value if k not in fields]
        if missing or extra:
            self.problems.append(f"{path}: keys missing {missing}, not selected {extra}")
        owner = runtime or parent
        for key, (node, _) in fields.items():
            if key not in value:
                continue
            name = node.name.value
            if name == "__typename":
                if runtime is not None and value[key] != runtime.name:
                    self.problems.append(f"{path}.{key}: {value[key]!r} is not {runtime.name}")
                continue
            definition = owner.fields.get(name)
            if definition is None:  # a field of one concrete type, typename not asked for
                continue
            self.value(node, definition.type, value[key], f"{path}.{key}")

    def value(self, node: FieldNode, type_: Any, value: Any, path: str) -> None:
        if isinstance(type_, GraphQLNonNull):
            if value is None:
                self.problems.append(f"{path}: null where the schema says {type_}")
                return
            type_ = type_.of_type
        if value is None:
            return
        if isinstance(type_, GraphQLList):
            if not isinstance(value, list):
                self.problems.append(f"{path}: a list was expected, got {value!r}")
                return
            for i, item in enumerate(value):
                self.value(node, type_.of_type, item, f"{path}[{i}]")
            return
        if isinstance(type_, GraphQLEnumType):
            if value not in type_.values:
                self.problems.append(f"{path}: {value!r} is not a value of {type_.name}")
            return
        if isinstance(type_, GraphQLScalarType):
            expected = _PYTHON_TYPES.get(type_.name)
            wrong = expected and (
                not isinstance(value, expected) or (bool not in expected and value is True)
            )
            if wrong or (bool not in (expected or ()) and isinstance(value, bool) and expected):
                self.problems.append(f"{path}: {value!r} is not a {type_.name}")
            return
        assert node.selection_set is not None
        self.check(node.selection_set, type_, value, path)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if name is None or (operation.name and operation.name.value == name):
            return operation
    raise LookupError(name)


def shape_problems(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any],
    body: dict[str, Any],
) -> list[str]:
    operation = _operation(document, operation_name)
    walk = _Walk(schema, document, operation)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in variables:
            walk.variables[name] = variables[name]
        elif definition.default_value is not None:
            walk.variables[name] = value_from_ast_untyped(definition.default_value)
    errors = body.get("errors") or []
    for error in errors:
        if not isinstance(error.get("message"), str):
            walk.problems.append(f"an error without a message: {error!r}")
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR":
            walk.problems.append(f"an unexpected error (a bug): {error!r}")
        elif code is None:
            walk.problems.append(f"an error without a code: {error!r}")
    if "data" not in body and not errors:
        walk.problems.append("neither data nor errors")
    data = body.get("data")
    if data is None:
        if not errors:
            walk.problems.append("data is null and no error says why")
        return walk.problems
    root = schema.query_type
    walk.check(operation.selection_set, root, data, "data")
    return walk.problems


# Root fields that show another marketplace's objects to whoever holds a secret of it: a
# sign-up link shows its marketplace's terms and documents to anyone.
_BY_SECRET = frozenset({"invitation"})


def leaks(
    world: ReadsWorld, actor: str, body: dict[str, Any], document: DocumentNode | None = None
) -> list[str]:
    """The other marketplace's IDs and text found in the answer of a principal of one (but
    what it may know of the other: its own roles there, what a secret it was given shows)."""
    acting = acting_marketplace(actor)
    if acting is None:
        return []
    other = "beta" if acting == "alpha" else "alpha"
    if document is not None and isinstance(body.get("data"), dict):
        shown = _keys_of(document, _BY_SECRET)
        body = {**body, "data": {k: v for k, v in body["data"].items() if k not in shown}}
    strings = set(_strings(body))
    found = sorted(strings & (world.own_ids[other] - world.known_elsewhere.get(actor, set())))
    if other == "beta":
        found += sorted(repr(s) for s in strings if SECRET_OF_B in s)
    return found


def _keys_of(document: DocumentNode, fields: frozenset[str]) -> set[str]:
    """The response keys of the root fields named ``fields`` (those of the operations)."""
    return {
        (s.alias or s.name).value
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        for s in d.selection_set.selections
        if isinstance(s, FieldNode) and s.name.value in fields
    }


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
