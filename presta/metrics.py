"""Prometheus metrics of the API process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "presta_http_requests_total", "HTTP requests served", ["path", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "presta_http_request_seconds",
    "HTTP request latency",
    ["path"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
GRAPHQL_ERRORS = Counter(
    "presta_graphql_errors_total", "Top-level GraphQL errors by code", ["code"]
)
OPEN_WEBSOCKETS = Gauge("presta_open_websockets", "Open websocket connections")
ACTIVE_SUBSCRIPTIONS = Gauge("presta_active_subscriptions", "Running GraphQL subscriptions")
PERSISTED_QUERIES = Counter(
    "presta_persisted_queries_total",
    "Persisted documents by outcome: hit, miss (PersistedQueryNotFound), registered, refused "
    "(not a trusted document)",
    ["outcome"],
)
PERSISTED_QUERY_STORE_FAILURES = Counter(
    "presta_persisted_query_store_failures_total",
    "Persisted-query store calls that failed (Redis unreachable): read as not found",
)
OPERATIONS = Counter(
    "presta_operations_total",
    "GraphQL operations run over HTTP and websockets, by executor: compiled (one statement, "
    "resolvers.compiled) or standard (strawberry)",
    ["executor"],
)
