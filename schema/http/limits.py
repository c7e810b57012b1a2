"""Schema extensions: query limits, error masking with request ids, field suggestions."""

from __future__ import annotations

import functools
import logging
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import (
    BREAK,
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfoHelpers,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    Visitor,
    parse,
    visit,
)
from strawberry import scalar
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.relay.types import GlobalIDValueError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.types import ExecutionContext

from presta import db
from presta.logs import request_id
from presta.metrics import GRAPHQL_ERRORS
from presta.settings import settings
from resolvers.errors import AuthError, UserError

log = logging.getLogger("presta.graphql")

# Every `extensions.code` a top-level error (HTTP or websocket) may carry; README lists them.
# Expected failures of mutations are not here: they travel in `userErrors` with domain codes.
ERROR_CODES = frozenset(
    {
        # authentication and authorization
        "UNAUTHENTICATED",
        "FORBIDDEN",
        # the request itself (transport, JSON, GraphQL document, arguments)
        "BAD_REQUEST",
        "BATCHING_NOT_SUPPORTED",
        "UNSUPPORTED_MEDIA_TYPE",
        "PREFLIGHT_REQUIRED",
        "METHOD_NOT_ALLOWED",
        "NOT_FOUND",
        "PAYLOAD_TOO_LARGE",
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_USER_INPUT",
        # limits
        "QUERY_TOO_DEEP",
        "TOO_MANY_ALIASES",
        "TOO_MANY_TOKENS",
        "QUERY_TOO_COSTLY",
        "PAGE_SIZE_EXCEEDED",
        "RATE_LIMITED",
        # idempotency keys on creating mutations
        "IDEMPOTENCY_KEY_INVALID",
        "IDEMPOTENCY_KEY_REUSED",
        "IDEMPOTENCY_IN_PROGRESS",
        # live subscriptions
        "CURSOR_EXPIRED",
        "SUBSCRIBER_TOO_SLOW",
        "TOO_MANY_SUBSCRIPTIONS",
        # the server
        "SERVICE_UNAVAILABLE",
        "INTERNAL_SERVER_ERROR",
    }
)

UNAVAILABLE_MESSAGE = "The service is unavailable for a moment: retry shortly."

# A UserError raised by a query (bad cursor, page size, unknown id) is the client's mistake.
_EXPECTED = (AuthError, GlobalIDValueError, UserError)


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or not error.path:
        # Parse, validation and variable errors (a scalar refusing a value among them) describe
        # the request, not our code: only resolvers, which always have a path, fail unexpectedly.
        return True
    if isinstance(original, GraphQLError):
        return _is_expected(original) if original.original_error else True
    return isinstance(original, _EXPECTED) or db.is_unavailable(original)


def _parse_upload(value: Any) -> Any:
    # strawberry's own Upload takes any value: a string would reach the resolver as a "file".
    if not callable(getattr(value, "read", None)):
        raise ValueError("An Upload is a file part of a multipart request, never a literal.")
    return value


# Replaces strawberry's Upload (see `schema.root`): the same name and description.
UPLOAD_SCALAR = scalar(
    name="Upload",
    description="Represents a file upload.",
    serialize=lambda value: value,
    parse_value=_parse_upload,
)


class ErrorMasking(MaskErrors):
    """Unexpected errors become 'Unexpected error' with the request id; expected ones get a code."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: not _is_expected(e))

    def _process_result(self, result: object) -> None:
        # strawberry's own test, isinstance() of a runtime-checkable Protocol, cost more than
        # the rest of the masking of a request without errors.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        rid = request_id.get()
        log.error(
            "unexpected error in %s",
            ".".join(map(str, error.path or [])),
            exc_info=error.original_error,
            extra={"request_id": rid},
        )
        GRAPHQL_ERRORS.labels("INTERNAL_SERVER_ERROR").inc()
        return GraphQLError(
            message=f"Unexpected error (request id {rid}).",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        if not _may_see_suggestions(self.execution_context.context):
            # Variable values are checked at execution, past DocumentLimits' own stripping.
            processed = [_without_suggestion(error) for error in processed]
        for error in processed:
            if error.extensions is None or "code" not in error.extensions:
                error.extensions = {**(error.extensions or {}), "code": _code_of(error)}
                if isinstance(error.original_error, UserError):
                    error.extensions["field"] = error.original_error.field
                if error.extensions["code"] == "SERVICE_UNAVAILABLE":
                    # The driver's text names hosts and ports: keep it in the log only.
                    log.warning("database unavailable: %s", error.original_error)
                    error.message = UNAVAILABLE_MESSAGE
                GRAPHQL_ERRORS.labels(error.extensions["code"]).inc()
        return processed


def _code_of(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, AuthError):
        return original.code
    if isinstance(original, GlobalIDValueError):
        return "BAD_USER_INPUT"
    if isinstance(original, UserError):
        return "NOT_FOUND" if original.code.value == "NOT_FOUND" else "BAD_USER_INPUT"
    if original is not None and db.is_unavailable(original):
        return "SERVICE_UNAVAILABLE"
    message = error.message
    if "exceeds maximum operation depth" in message:
        return "QUERY_TOO_DEEP"
    if "aliases found" in message:
        return "TOO_MANY_ALIASES"
    if "Document contains more than" in message and "tokens" in message:
        return "TOO_MANY_TOKENS"
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable '$") and any(
        part in message for part in ("invalid value", "was not provided", "must not be null")
    ):
        return "BAD_USER_INPUT"  # the variables do not fit the operation
    return "GRAPHQL_VALIDATION_FAILED"


class Execution(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, freed by reference counting and with a memo per event.

    graphql-core 3.3 gives each executor helpers that are its own bound methods, and keeps
    them: a reference cycle, so every executor and all it alone reaches (the memo of collected
    sub-fields, the errors, the loaders' futures and rows) waited for the cyclic collector,
    ~400 objects per dashboard request. They piled up into full collections of 50-150 ms,
    every second under load (``bench reads``). Here the helpers reach the executor through a
    weak reference.

    It also copies a subscription's executor for every event but shares its memo of
    collected sub-fields, keyed by the identity of lists built anew for each event: a
    long-lived subscription would grow by a few entries per event, for ever (seen in
    ``bench/load.py``: +3 MiB per 2,000 deliveries, never released).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        executor = weakref.ref(self)
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=lambda values: _alive(executor).gather_async_work(values),
            track=lambda values: _alive(executor).track_async_work(values),
        )

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


def _alive(executor: weakref.ref[Execution]) -> Execution:
    found = executor()
    if found is None:  # a resolver kept its info beyond the operation
        raise RuntimeError("the operation this resolver belonged to is over")
    return found


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
            ctx.pre_execution_errors = _validate(ctx.query, ctx.graphql_document, ctx, rules)
        else:
            # A document given without its text: strawberry validates it, with our limits.
            ctx.validation_rules = (*ctx.validation_rules, *rules)
        document = ctx.graphql_document
        if document is not None and not ctx.pre_execution_errors:
            problem = _static_limits(document, ctx.variables or {}, ctx.operation_name)
            if problem is None and ctx.query is not None:
                problem = _nul_character(ctx.query, ctx.variables)
            if problem is not None:
                ctx.pre_execution_errors = [problem]
        yield
        errors = ctx.pre_execution_errors
        if errors and not _may_see_suggestions(ctx.context):
            # In place: strawberry already holds this list as the operation's result.
            errors[:] = [_without_suggestion(error) for error in errors]


_parse = functools.lru_cache(maxsize=256)(parse)


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
    ctx: ExecutionContext,
    rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    cfg = settings()
    key = (query, cfg.max_query_depth, cfg.max_aliases)
    if key in _VALID_DOCUMENTS:
        _VALID_DOCUMENTS.move_to_end(key)
        return []
    size = _expanded_size(document)
    if size > cfg.max_query_cost:
        # strawberry's depth and alias rules walk every fragment spread again: fragments that
        # spread each other twice over would take them minutes.
        return [
            GraphQLError(
                f"Query expands to {size} fields, over the limit of {cfg.max_query_cost}.",
                extensions={"code": "QUERY_TOO_COSTLY"},
            )
        ]
    errors = validate_document(ctx.schema._schema, document, (*ctx.validation_rules, *rules))
    if not errors:
        _VALID_DOCUMENTS[key] = None
        if len(_VALID_DOCUMENTS) > _VALID_DOCUMENTS_MAX:
            _VALID_DOCUMENTS.popitem(last=False)
    return errors


def _expanded_size(document: Any) -> int:
    """Fields of the largest operation once its fragments are expanded, in linear time."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    sizes: dict[str, int | None] = {}

    def size(selection_set: SelectionSetNode | None) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += 1 + size(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += size(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in sizes:
                    sizes[name] = None  # a cycle counts nothing; validation refuses it
                    sizes[name] = size(fragment.selection_set)
                total += sizes.get(name) or 0
        return total

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return max((size(o.selection_set) for o in operations), default=0)


def _without_suggestion(error: GraphQLError) -> GraphQLError:
    if "Did you mean" not in error.message:
        return error
    return GraphQLError(
        error.message.split("Did you mean")[0].strip(),
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


def _may_see_suggestions(context: Any) -> bool:
    actor = getattr(context, "actor", None)
    return bool(actor is not None and (actor.is_staff or actor.is_partner))


def _static_limits(
    document: Any, variables: dict[str, Any], operation_name: str | None
) -> GraphQLError | None:
    cfg = settings()
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name and operation.name and operation.name.value != operation_name:
            continue
        try:
            cost = _cost(operation.selection_set, fragments, variables, {}, cfg.max_page_size)
        except _PageTooLarge as exc:
            return GraphQLError(
                f"Page size {exc.size} is over the maximum of {cfg.max_page_size}.",
                extensions={"code": "PAGE_SIZE_EXCEEDED"},
            )
        if cost > cfg.max_query_cost:
            return GraphQLError(
                f"Query cost {cost} is over the limit of {cfg.max_query_cost}.",
                extensions={"code": "QUERY_TOO_COSTLY"},
            )
    return None


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


class _PageTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def _cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    costs: dict[str, int | None],
    max_page: int,
) -> int:
    """Each field costs 1 plus its children times the page size it asks for.

    A fragment's cost is computed once (``costs``; None while in progress, which cuts
    cycles): fragments spreading each other twice over would else take exponential time.
    """
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            multiplier = 1
            for argument in selection.arguments or ():
                if argument.name.value in ("first", "last"):
                    size = _int_value(argument.value, variables)
                    if size is not None:
                        if size > max_page:
                            raise _PageTooLarge(size)
                        multiplier = max(size, 1)
            children = _cost(selection.selection_set, fragments, variables, costs, max_page)
            total += 1 + multiplier * children
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(selection.selection_set, fragments, variables, costs, max_page)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None:
                continue
            if name not in costs:
                costs[name] = None
                costs[name] = _cost(fragment.selection_set, fragments, variables, costs, max_page)
            total += costs[name] or 0
    return total


def _int_value(node: Any, variables: dict[str, Any]) -> int | None:
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, VariableNode):
        value = variables.get(node.name.value)
        return value if isinstance(value, int) else None
    return None
