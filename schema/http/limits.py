"""Document limits: parse, validate and bound each document before anything runs."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import (
    BREAK,
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    SelectionSetNode,
    StringValueNode,
    Visitor,
    parse,
    specified_rules,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.schema import validate_document

from presta.settings import settings
from schema.http.cost import expanded_size, static_limits
from schema.http.suggestions import may_see_suggestions, without_suggestion

_VALID_DOCUMENTS: OrderedDict[tuple[str, int, int], None] = OrderedDict()
_VALID_DOCUMENTS_MAX = 512


class DocumentLimits(SchemaExtension):
    """Parse, validate and bound each document under the limits in force; hide suggestions.

    Two hooks where strawberry's ParserCache, MaxTokensLimiter, QueryDepthLimiter and
    MaxAliasesLimiter with a validation cache and a cost guard took six: strawberry enters
    every hook of every extension on every request, and those four hooks more, with the two
    rule classes the limiters built per request, cost ~40 us of CPU per request here.

    Parsing is cached, but a document that does not parse (or has too many tokens) is left to
    strawberry's parse, which reports it like any other error. Validation is cached for
    documents that passed it under the same limits; an invalid one is validated every time.
    The static cost and page sizes are checked on every request: they may come from variables.
    """

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.parse_options["max_tokens"] = settings().max_tokens
        try:
            ctx.graphql_document = _parse(ctx.query, **ctx.parse_options)
        except GraphQLError:
            ctx.graphql_document = None
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        cfg = settings()
        rules = _limit_rules(cfg.max_query_depth, cfg.max_aliases)
        if ctx.graphql_document is not None and ctx.pre_execution_errors is None and ctx.query:
            ctx.pre_execution_errors = _validate(
                ctx.query, ctx.graphql_document, ctx.schema._schema, (*ctx.validation_rules, *rules)
            )
        else:
            # A document given without its text: strawberry validates it, with our limits.
            ctx.validation_rules = (*ctx.validation_rules, *rules)
        document = ctx.graphql_document
        if document is not None and not ctx.pre_execution_errors:
            problem = variable_limits(ctx.query, document, ctx.variables, ctx.operation_name)
            if problem is not None:
                ctx.pre_execution_errors = [problem]
        yield
        errors = ctx.pre_execution_errors
        if errors and not may_see_suggestions(ctx.context):
            # In place: strawberry already holds this list as the operation's result.
            errors[:] = [without_suggestion(error) for error in errors]


_parse = functools.lru_cache(maxsize=256)(parse)


def variable_limits(
    query: str | None,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> GraphQLError | None:
    """What the limits in force refuse in a valid document with these variables (page sizes,
    cost, the NUL character), checked on every request; None when it may run."""
    problem = static_limits(document, variables or {}, operation_name)
    if problem is None and query is not None:
        problem = _nul_character(query, variables)
    return problem


def admitted(query: str) -> DocumentNode | None:
    """The document, when it parses and passed validation under the limits in force (both
    cached): what ``DocumentLimits`` lets through before its variables are looked at."""
    document = parsed(query)
    if document is None or _validated_key(query) not in _VALID_DOCUMENTS:
        return None
    return document


def _validated_key(query: str) -> tuple[str, int, int]:
    cfg = settings()
    return (query, cfg.max_query_depth, cfg.max_aliases)


def parsed(query: str) -> DocumentNode | None:
    """The document under the token limit in force (cached), or None when it does not parse."""
    try:
        return _parse(query, max_tokens=settings().max_tokens)
    except GraphQLError:
        return None


def document_problems(query: str, graphql_schema: GraphQLSchema) -> list[GraphQLError]:
    """What the schema and the limits in force find wrong with a document, whatever its
    variables: none when it may run. Persisted documents are checked by it before they are kept."""
    cfg = settings()
    try:
        document = _parse(query, max_tokens=cfg.max_tokens)
    except GraphQLError as error:
        return [error]
    rules = (*specified_rules, *_limit_rules(cfg.max_query_depth, cfg.max_aliases))
    errors = _validate(query, document, graphql_schema, rules)
    if errors:
        return errors
    # Page sizes and costs written in the document itself (variables count as 1 here).
    problem = static_limits(document, {}, None) or _nul_character(query, None)
    return [problem] if problem is not None else []


def _ignore_introspection(context: IgnoreContext) -> bool:
    return context.field_name.startswith("__")


@functools.lru_cache(maxsize=16)
def _limit_rules(max_depth: int, max_aliases: int) -> tuple[type[ASTValidationRule], ...]:
    # strawberry's limiters build these rule classes anew for every request.
    return (
        depth_validator(max_depth, should_ignore=_ignore_introspection),
        aliases_validator(max_aliases),
    )


def _validate(
    query: str,
    document: DocumentNode,
    graphql_schema: GraphQLSchema,
    rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    cfg = settings()
    key = _validated_key(query)
    if key in _VALID_DOCUMENTS:
        _VALID_DOCUMENTS.move_to_end(key)
        return []
    empty = _empty_selection_set(document)
    if empty is not None:
        # graphql-core parses `{}`, which the specification does not allow (and strawberry's
        # depth rule fails on, with a message of its own): the parse error graphql-js gives.
        return [GraphQLError('Syntax Error: Expected Name, found "}".', nodes=[empty])]
    size = expanded_size(document)
    if size > cfg.max_query_cost:
        # strawberry's depth and alias rules walk every fragment spread again: fragments that
        # spread each other twice over would take them minutes.
        return [
            GraphQLError(
                f"Query expands to {size} fields, over the limit of {cfg.max_query_cost}.",
                extensions={"code": "QUERY_TOO_COSTLY"},
            )
        ]
    errors = validate_document(graphql_schema, document, rules)
    if not errors:
        _VALID_DOCUMENTS[key] = None
        if len(_VALID_DOCUMENTS) > _VALID_DOCUMENTS_MAX:
            _VALID_DOCUMENTS.popitem(last=False)
    return errors


def _empty_selection_set(document: DocumentNode) -> SelectionSetNode | None:
    found: list[SelectionSetNode] = []

    class Find(Visitor):
        def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> Any:
            if not node.selections:
                found.append(node)
                return BREAK
            return None

    visit(document, Find())
    return found[0] if found else None


def _nul_character(query: str, variables: dict[str, Any] | None) -> GraphQLError | None:
    """U+0000 in a string argument or variable: PostgreSQL stores no such text, so it is
    refused before anything runs (as a typed error, not a failed statement)."""
    if _nul_in_literals(query) or (variables and _holds_nul(variables)):
        return GraphQLError(
            "Text may not contain the NUL character (U+0000).",
            extensions={"code": "BAD_USER_INPUT"},
        )
    return None


@functools.lru_cache(maxsize=256)
def _nul_in_literals(query: str) -> bool:
    # The lexer refuses a raw NUL: in a literal it can only be an escape (\u0000, \u{0}).
    if "\\u" not in query:
        return False
    finder = _NulFinder()
    visit(_parse(query), finder)
    return finder.found


class _NulFinder(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if "\x00" in node.value:
            self.found = True
            return BREAK
        return None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(v) or _holds_nul(k) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False
