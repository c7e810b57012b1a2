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
