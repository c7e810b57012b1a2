"""The executor of operations: graphql-core's, without its reference cycles."""

from __future__ import annotations

import weakref
from typing import Any

from graphql import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


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
