"""The codes of top-level errors (HTTP and websocket), and the code each error gets."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.relay.types import GlobalIDValueError

from presta import db
from presta.logs import request_id
from resolvers.errors import AuthError, UserError

log = logging.getLogger("presta.graphql")

# Every `extensions.code` a top-level error (HTTP or websocket) may carry; README lists them.
# Expected failures of mutations are not here: they travel in `userErrors` with domain codes.
ERROR_CODES = frozenset(
    {
        # authentication and authorization
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "MARKETPLACE_NOT_FOUND",
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
        # persisted documents (automatic persisted queries, trusted documents)
        "PERSISTED_QUERY_NOT_FOUND",
        "PERSISTED_QUERY_HASH_MISMATCH",
        "PERSISTED_QUERY_REQUIRED",
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

# Refusals worth an operator's eye: a client pushing against a limit that protects the service.
_WARNED = frozenset(
    {
        "QUERY_TOO_DEEP",
        "TOO_MANY_ALIASES",
        "TOO_MANY_TOKENS",
        "QUERY_TOO_COSTLY",
        "PAGE_SIZE_EXCEEDED",
        "PAYLOAD_TOO_LARGE",
        "RATE_LIMITED",
        "TOO_MANY_SUBSCRIPTIONS",
        "SUBSCRIBER_TOO_SLOW",
    }
)


def log_refusal(code: str, message: str, *, path: str | None = None) -> None:
    """A request refused for what the client sent: one line with its code and request id, at
    INFO (WARNING for limits), never a traceback: the service did its job."""
    extra = {"code": code, "request_id": request_id.get()}
    if path:
        extra["path"] = path
    level = logging.WARNING if code in _WARNED else logging.INFO
    log.log(level, "refused: %s", message[:500], extra=extra)


def code_of(error: GraphQLError) -> str:
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
