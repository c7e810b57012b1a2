"""The ``Idempotency-Key`` header of mutations that create things.

The first request under a key runs and its response is kept 24 hours; the same request
replayed by the same caller (in the same acting marketplace) gets that response again, with
``Idempotent-Replayed: true``, and no second effect. The same key with another document or
other variables is the top-level error ``IDEMPOTENCY_KEY_REUSED`` (HTTP 422); a duplicate that
arrives while the first still runs waits for it, then gets ``IDEMPOTENCY_IN_PROGRESS`` (HTTP
409). A run that ends without effect (a top-level error, no data) is forgotten, so the key may
be retried.

A database dump must not yield the secrets these responses hold (sign-up tokens, API keys)
nor the keys themselves: a row is named by a keyed hash of (caller, key), its input by an HMAC,
and its response is sealed with AES-GCM, all under keys derived from the server secret and the
caller's raw key (``presta.security.Vault``). Only a request presenting that key can find and
open its row.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from graphql import GraphQLError, OperationType
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from presta.logs import request_id
from presta.security import Vault
from resolvers import idempotency
from resolvers.idempotency import Verdict
from schema.http.errors import log_refusal
from schema.http.ratelimit import operation_of, principal_of, root_fields

log = logging.getLogger(__name__)

HEADER = "idempotency-key"
# Changing it (or the secret) orphans the rows in flight: their keys run again as new.
_SALT = b"presta/idempotency/v1"

# Mutations that create something: a retried request must not create it twice. Other
# mutations are state transitions whose repetition is refused by their own rules.
IDEMPOTENT_MUTATIONS = frozenset(
    {
        "signUp",
        "signUpClient",
        "createClient",
        "createApiKey",
        "createMarketplace",
        "addStaffMember",
        "inviteProviders",
        "inviteReferencedProviders",
        "resendInvitation",
        "setProviderCommission",
        "uploadDocument",
        "publishTermsOfUse",
        "addInternalDocument",
        "startConversation",
        "sendMessage",
        "setMarketingConsent",
        "createService",
        "applyForService",
        "createServiceRequest",
        "respondToServiceRequest",
        "scheduleIntervention",
        "createWebhookEndpoint",
    }
)


def _digest(
    vault: Vault, query: str | None, variables: dict[str, Any] | None, name: str | None
) -> str:
    # Keyed: a plain hash of sign-up variables would let a dump test password guesses.
    body = orjson.dumps(
        {"query": query, "variables": variables, "operationName": name},
        default=_uploaded,
        option=orjson.OPT_SORT_KEYS,
    )
    return vault.mac(body)


def _uploaded(value: Any) -> Any:
    """An uploaded file counts by its name and content."""
    file = getattr(value, "file", None)
    if file is not None and hasattr(file, "read"):
        position = file.tell()
        content = file.read()
        file.seek(position)
        return {"filename": getattr(value, "filename", None), "sha256": _sha(content)}
    return repr(value)


def _sha(content: Any) -> str:
    return hashlib.sha256(
        content if isinstance(content, bytes) else str(content).encode()
    ).hexdigest()


def _error(message: str, code: str) -> ExecutionResult:
    log_refusal(code, message)  # set as the result: strawberry's process_errors never sees it
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


def _replayed(text: bytes) -> ExecutionResult:
    response = orjson.loads(text)
    errors = [
        GraphQLError(e.get("message", ""), path=e.get("path"), extensions=e.get("extensions"))
        for e in response.get("errors") or ()
    ]
    return ExecutionResult(data=response.get("data"), errors=errors or None)


def _produced(data: Any) -> bool:
    return isinstance(data, dict) and any(value is not None for value in data.values())


class Idempotency(SchemaExtension):
    """Claims the key before a creating mutation runs; keeps its response once masked."""

    def __init__(self) -> None:
        self._record: int | None = None
        self._vault: Vault | None = None

    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self._record is not None:
                await self._settle(self._record)

    async def _settle(self, record_id: int) -> None:
        result = self.execution_context.result
        if result is None or not _produced(result.data) or self._vault is None:
            await idempotency.release(record_id)
            return
        response: dict[str, Any] = {"data": result.data}
        if result.errors:
            response["errors"] = [error.formatted for error in result.errors]
        await idempotency.finish(record_id, self._vault.seal(orjson.dumps(response)))

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        context = ctx.context
        request = getattr(context, "request", None)
        key = request.headers.get(HEADER) if isinstance(request, Request) else None
        document = ctx.graphql_document
        operation = operation_of(document, ctx.operation_name) if document else None
        if (
            key is None
            or operation is None
            or operation.operation is not OperationType.MUTATION
            or not IDEMPOTENT_MUTATIONS.intersection(root_fields(document, operation))
        ):
            yield
            return
        if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
            ctx.result = _error(
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
                "IDEMPOTENCY_KEY_INVALID",
            )
            self._status(400)
            yield
            return
        principal = f"{principal_of(context.actor, request)}@{context.actor.marketplace_id or 0}"
        vault = Vault(purpose=_SALT, owner=principal, secret=key)
        digest = _digest(vault, ctx.query, ctx.variables, ctx.operation_name)
        claim = await idempotency.claim(principal, vault.lookup, digest)
        if claim.verdict is Verdict.RUN:
            self._record, self._vault = claim.record_id, vault
        elif claim.verdict is Verdict.REPLAY:
            response = vault.unseal(claim.response or "")
            if response is None:
                ctx.result = self._unreadable(claim.record_id)
            else:
                ctx.result = _replayed(response)
                self._header("Idempotent-Replayed", "true")
        elif claim.verdict is Verdict.REUSED:
            ctx.result = _error(
                "This Idempotency-Key was used for a different request.",
                "IDEMPOTENCY_KEY_REUSED",
            )
            self._status(422)
        else:
            ctx.result = _error(
                "A request with this Idempotency-Key is still in progress: retry later.",
                "IDEMPOTENCY_IN_PROGRESS",
            )
            self._status(409)
            self._header("Retry-After", "1")
        yield

    def _unreadable(self, record_id: int | None) -> ExecutionResult:
        # Found by its key's hash yet not sealed under it: the row was altered in the database.
        rid = request_id.get()
        log.error("idempotency record %s does not open under its key", record_id)
        self._status(500)
        error = GraphQLError(
            f"Unexpected error (request id {rid}).",
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
        )
        return ExecutionResult(data=None, errors=[error])

    def _status(self, status: int) -> None:
        response = getattr(self.execution_context.context, "response", None)
        if isinstance(response, Response):
            response.status_code = status

    def _header(self, name: str, value: str) -> None:
        response = getattr(self.execution_context.context, "response", None)
        if isinstance(response, Response):
            response.headers[name] = value
