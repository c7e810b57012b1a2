"""Every read document the test suite and the benchmarks send, found mechanically, and the
variables to run each with, taken from the differential world by name and type.

A string constant of ``tests/*.py`` or ``bench/*.py`` is a read document when it parses as
GraphQL, holds only query operations, and validates against the schema: a document added to
the suite later is covered without naming it here. Each operation of a document is one case.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    ValueNode,
    VariableNode,
    Visitor,
    get_named_type,
    parse,
    type_from_ast,
    validate,
    visit,
)

from resolvers.pagination import encode_cursor
from schema.base import encode_id

ROOT = Path(__file__).resolve().parents[2]
MALFORMED_ID = "bm90LWEtZ2xvYmFsLWlk"  # base64 of "not-a-global-id"


@dataclass(frozen=True)
class FixedDocument:
    text: str
    operation_name: str | None
    origin: str  # file:line

    @property
    def ast(self) -> DocumentNode:
        return parse(self.text)


def read_documents(schema: GraphQLSchema) -> list[FixedDocument]:
    """One per query operation of every read document of tests/ and bench/, first seen first."""
    found: dict[tuple[str, str | None], FixedDocument] = {}
    files = sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "bench").glob("*.py"))
    for path in files:
        for line, text in _string_constants(path):
            document = _read_document(schema, text)
            if document is None:
                continue
            for operation in document.definitions:
                if isinstance(operation, OperationDefinitionNode):
                    name = operation.name.value if operation.name else None
                    origin = f"{path.relative_to(ROOT)}:{line}"
                    found.setdefault((text.strip(), name), FixedDocument(text, name, origin))
    return list(found.values())


def _string_constants(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "{" in node.value:
            yield node.lineno, node.value


def _read_document(schema: GraphQLSchema, text: str) -> DocumentNode | None:
    try:
        document = parse(text)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations or any(o.operation is not OperationType.QUERY for o in operations):
        return None
    # Introspection is the schema's own business, not the compiler's.
    if "__schema" in text or validate(schema, document):
        return None
    return document


# --- variables ------------------------------------------------------------------------------

# The type of object an ID argument names, by the argument's name.
ID_ARGUMENTS = {
    "membershipId": "Membership",
    "providerId": "Membership",
    "serviceId": "Service",
    "requestId": "ServiceRequest",
    "endpointId": "WebhookEndpoint",
    "conversationId": "Conversation",
    "interventionId": "Intervention",
    "clientId": "Client",
    "documentTypeId": "DocumentType",
}
# Objects ``node(id:)`` is asked for when the document does not say (no type condition).
NODE_DEFAULTS = ("Membership", "ServiceRequest")


@dataclass
class Pools:
    """Values of the world a document's variables are taken from."""

    ids_by_type: dict[str, list[str]]
    foreign_by_type: dict[str, list[str]]
    cursors: list[str]
    dates: list[str]
    invitation_token: str

    def ids(self, type_name: str) -> list[str]:
        return self.ids_by_type.get(type_name) or [str(encode_id(type_name, 987_654_321))]

    def foreign(self, type_name: str) -> str:
        own = self.foreign_by_type.get(type_name)
        return own[0] if own else str(encode_id(type_name, 987_654_321))


def _usages(operation: OperationDefinitionNode) -> dict[str, list[str]]:
    """For each variable, the object types the ID it holds should be of: by the argument's
    name, or for ``node(id:)`` by the type conditions of the fragments below."""
    usage: dict[str, list[str]] = {}
    fields: list[FieldNode] = []

    class Find(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            fields.append(node)

        def leave_field(self, node: FieldNode, *_: Any) -> None:
            fields.pop()

        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            value = node.value
            names = _variables_in(value)
            if not names or not fields:
                return
            argument = node.name.value
            if argument in ID_ARGUMENTS:
                wanted = [ID_ARGUMENTS[argument]]
            else:
                wanted = _conditions(fields[-1]) or list(NODE_DEFAULTS)
            for name in names:
                usage.setdefault(name, wanted)

    visit(operation, Find())
    return usage


def _variables_in(value: ValueNode) -> list[str]:
    if isinstance(value, VariableNode):
        return [value.name.value]
    if isinstance(value, ListValueNode):
        return [n for v in value.values for n in _variables_in(v)]
    return []


def _conditions(field: FieldNode) -> list[str]:
    if field.selection_set is None:
        return []
    return [
        s.type_condition.name.value
        for s in field.selection_set.selections
        if isinstance(s, InlineFragmentNode) and s.type_condition is not None
    ]


def variable_sets(
    schema: GraphQLSchema, document: FixedDocument, pools: Pools
) -> list[dict[str, Any]]:
    """Values for the operation's variables: the world's own objects, and when the document
    takes IDs or cursors, a second set with the other marketplace's objects and optional
    variables given (cursor from an earlier page, a date)."""
    operation = next(
        d
        for d in document.ast.definitions
        if isinstance(d, OperationDefinitionNode)
        and (d.name.value if d.name else None) == document.operation_name
    )
    usages = _usages(operation)
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    varied = False
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        type_ = type_from_ast(schema, definition.type)
        required = isinstance(type_, GraphQLNonNull) and definition.default_value is None
        own = _value(name, type_, usages.get(name, []), pools, foreign=False)
        other = _value(name, type_, usages.get(name, []), pools, foreign=True)
        if required:
            first[name] = own
        second[name] = other
        varied = varied or other != own or not required
    return [first, second] if varied else [first]


def _value(name: str, type_: Any, wanted: list[str], pools: Pools, *, foreign: bool) -> Any:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        one = _value(name, type_.of_type, wanted, pools, foreign=foreign)
        ids = get_named_type(type_).name == "ID"
        if foreign:
            return [one, MALFORMED_ID] if ids else [one]
        return [pools.ids(t)[0] for t in wanted or NODE_DEFAULTS] if ids else [one]
    if isinstance(type_, GraphQLEnumType):
        return sorted(type_.values)[0]
    if isinstance(type_, GraphQLInputObjectType):
        return {
            key: _value(key, f.type, [], pools, foreign=foreign)
            for key, f in type_.fields.items()
            if isinstance(f.type, GraphQLNonNull)
        }
    scalar = type_.name
    if scalar == "ID":
        types = wanted or list(NODE_DEFAULTS)
        return pools.foreign(types[0]) if foreign else pools.ids(types[0])[0]
    if scalar == "Int":
        return 2
    if scalar == "Boolean":
        return not foreign
    if scalar in ("Date",):
        return pools.dates[1 if foreign else 0]
    if scalar == "Float":
        return 1.5
    if name in ("after", "before"):
        return pools.cursors[0] if pools.cursors else encode_cursor(1)
    if name == "token":
        return "no-such-token" if foreign else pools.invitation_token
    if name in ("postalCode",):
        return "75011"
    if name in ("text", "name"):
        return "Soci"
    return "x"
