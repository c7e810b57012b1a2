"""Error masking: unexpected errors become 'Unexpected error' with the request id; and the
one log line of each error (``log_errors``, in place of strawberry's)."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.relay.types import GlobalIDValueError

from presta import db
from presta.logs import request_id
from presta.metrics import GRAPHQL_ERRORS
from resolvers.errors import AuthError, UserError
from schema.http.errors import UNAVAILABLE_MESSAGE, code_of, log_refusal
from schema.http.suggestions import may_see_suggestions, without_suggestion

log = logging.getLogger("presta.graphql")

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


def _is_fault(error: GraphQLError) -> bool:
    """The service's own failure: what masking hides, or an extension that raised (strawberry
    wraps the exception with neither path nor location)."""
    if not _is_expected(error):
        return True
    original = error.original_error
    return (
        original is not None
        and not error.nodes
        and not isinstance(original, (GraphQLError, *_EXPECTED))
        and not db.is_unavailable(original)
    )


def log_errors(errors: list[GraphQLError]) -> None:
    """Each error of an operation, once, before masking: a fault at ERROR with its traceback,
    the database unavailable at WARNING, refused input as one line with its code (strawberry
    logged them all at ERROR, refused input with a traceback)."""
    rid = request_id.get()
    for error in errors:
        path = ".".join(map(str, error.path or []))
        if _is_fault(error):
            log.error(
                "unexpected error in %s",
                path or "the operation",
                exc_info=error.original_error,
                extra={"request_id": rid, "code": "INTERNAL_SERVER_ERROR"},
            )
            continue
        code = (error.extensions or {}).get("code") or code_of(error)
        if code == "SERVICE_UNAVAILABLE":
            # The driver's text names hosts and ports: in the log only, never in the answer.
            log.warning(
                "database unavailable: %s",
                error.original_error,
                extra={"request_id": rid, "code": code},
            )
        else:
            log_refusal(str(code), error.message, path=path)


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
        rid = request_id.get()  # logged with its traceback by log_errors
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
        if not may_see_suggestions(self.execution_context.context):
            # Variable values are checked at execution, past DocumentLimits' own stripping.
            processed = [without_suggestion(error) for error in processed]
        for error in processed:
            if error.extensions is None or "code" not in error.extensions:
                error.extensions = {**(error.extensions or {}), "code": code_of(error)}
                if isinstance(error.original_error, UserError):
                    error.extensions["field"] = error.original_error.field
                if error.extensions["code"] == "SERVICE_UNAVAILABLE":
                    error.message = UNAVAILABLE_MESSAGE
                GRAPHQL_ERRORS.labels(error.extensions["code"]).inc()
        return processed
