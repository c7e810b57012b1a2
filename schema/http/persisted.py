"""Persisted documents: Apollo's automatic persisted queries (APQ) and trusted documents.

A request names its document with ``extensions.persistedQuery = {"version": 1, "sha256Hash":
H}`` (in a POST body, the ``extensions`` parameter of a GET, or a graphql-transport-ws
``subscribe`` payload):

- without ``query``, the document kept under H runs; an unknown H is answered
  ``PersistedQueryNotFound`` (HTTP 200, the message Apollo's link looks for), and the client
  sends the text with the hash;
- with ``query``, sha256(query) must be H; the document runs and, once it has passed parsing,
  validation and the limits, is kept under H (``schema.http.persisted_store``).

The documents of the trusted manifest (``schema.http.manifest``) are found by their id first.
With ``PRESTA_TRUSTED_DOCUMENTS_ONLY`` nothing else runs, but for documents that only
introspect the schema: they read no data, and partner tools (codegen, GraphiQL) need them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, OperationType

from presta.metrics import PERSISTED_QUERIES
from presta.settings import settings
from schema.http.limits import document_problems, parsed
from schema.http.manifest import load_manifest
from schema.http.persisted_store import store
from schema.http.ratelimit import root_fields

log = logging.getLogger(__name__)

# Apollo's link (apollo-link-persisted-queries, @apollo/client) retries with the text on this
# message; recent versions also on the code.
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HITS = PERSISTED_QUERIES.labels("hit")
_MISSES = PERSISTED_QUERIES.labels("miss")


class PersistedQueryError(Exception):
    """A refusal of the persisted-document protocol: ``code`` and the HTTP status."""

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class Resolved:
    """The text to run (None: the request gave none), and the hash to keep it under once it
    has passed the limits (None: nothing to register)."""

    query: str | None
    register: str | None = None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PersistedDocuments:
    """The documents an API process runs by hash: its trusted manifest, then the shared store."""

    def __init__(
        self, trusted: Mapping[str, str], *, trusted_only: bool, graphql_schema: GraphQLSchema
    ) -> None:
        self.trusted = dict(trusted)
        self.trusted_only = trusted_only
        self._schema = graphql_schema

    @classmethod
    def from_settings(cls, graphql_schema: GraphQLSchema) -> PersistedDocuments:
        """Reads and checks the manifest of the settings: a ``ManifestError`` stops the start."""
        cfg = settings()
        path = cfg.trusted_documents
        trusted = load_manifest(path, graphql_schema) if path is not None else {}
        if path is not None:
            log.info("%d trusted documents from %s", len(trusted), path)
        return cls(trusted, trusted_only=cfg.trusted_documents_only, graphql_schema=graphql_schema)

    async def resolve(self, query: str | None, extensions: Any) -> Resolved:
        """The document the request names, or the ``PersistedQueryError`` refusing it."""
        query = query or None
        key = _persisted_hash(extensions)
        if key is None:
            if self.trusted_only and not (query is not None and _introspection_only(query)):
                raise _required("Only trusted documents run here: send their hash")
            return Resolved(query)
        trusted = self.trusted.get(key)
        if trusted is not None:
            if query is not None and query != trusted:
                raise _mismatch("The query is not the trusted document of this id.")
            _HITS.inc()
            return Resolved(trusted)
        if self.trusted_only:
            raise _required("This hash is not one of the trusted documents")
        if query is None:
            return Resolved(await self._lookup(key))
        if sha256_hex(query) != key:
            raise _mismatch("`sha256Hash` is not the SHA-256 of the query (lowercase hex).")
        return Resolved(query, register=key)

    async def register(self, resolved: Resolved) -> None:
        """Keep the document under its hash, if it may run and is not too long."""
        key, text = resolved.register, resolved.query
        if key is None or text is None:
            return
        limit = settings().persisted_query_max_bytes
        if len(text.encode()) > limit:
            log.info("persisted query %s not kept: over %d bytes", key, limit)
            return
        if document_problems(text, self._schema):
            return
        await store().put(key, text)
        PERSISTED_QUERIES.labels("registered").inc()

    async def prepare_subscribe(self, payload: dict[str, Any]) -> GraphQLError | None:
        """Put the text of the document a graphql-transport-ws ``subscribe`` payload names in
        it (and keep it), or the error refusing it."""
        try:
            resolved = await self.resolve(payload.get("query"), payload.get("extensions"))
        except PersistedQueryError as refusal:
            return GraphQLError(refusal.message, extensions={"code": refusal.code})
        payload["query"] = resolved.query
        await self.register(resolved)
        return None

    async def _lookup(self, key: str) -> str:
        # Only a sha256 can have been registered: anything else is not looked up.
        text = await store().get(key) if _SHA256.fullmatch(key) else None
        # A text that does not hash to its key was not written by us: ignored.
        if text is None or sha256_hex(text) != key:
            _MISSES.inc()
            raise PersistedQueryError(NOT_FOUND_MESSAGE, "PERSISTED_QUERY_NOT_FOUND", 200)
        _HITS.inc()
        return text


def _persisted_hash(extensions: Any) -> str | None:
    """``extensions.persistedQuery.sha256Hash``; None when the request names no document."""
    found = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    if found is None:
        return None
    key = found.get("sha256Hash") if isinstance(found, dict) else None
    if not isinstance(key, str) or not key:
        raise PersistedQueryError(
            '`extensions.persistedQuery` must be {"version": 1, "sha256Hash": "<hash>"}.',
            "BAD_REQUEST",
            400,
        )
    version = found.get("version")
    if version != 1 or isinstance(version, bool):
        raise PersistedQueryError(
            f"Unsupported persisted query version {version!r}: only version 1 is supported.",
            "BAD_REQUEST",
            400,
        )
    return key


def _mismatch(message: str) -> PersistedQueryError:
    return PersistedQueryError(message, "PERSISTED_QUERY_HASH_MISMATCH", 400)


def _required(reason: str) -> PersistedQueryError:
    PERSISTED_QUERIES.labels("refused").inc()
    return PersistedQueryError(
        f"{reason} (extensions.persistedQuery); only introspection runs as text.",
        "PERSISTED_QUERY_REQUIRED",
        400,
    )


def _introspection_only(query: str) -> bool:
    """Whether every operation of the document is a query of introspection fields only."""
    document = parsed(query)
    if document is None:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return bool(operations) and all(
        operation.operation is OperationType.QUERY
        and all(name.startswith("__") for name in root_fields(document, operation))
        for operation in operations
    )
