"""The executor of operations: graphql-core's, without its reference cycles."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfoHelpers, Undefined
from graphql.pyutils import Path
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

    And when several sibling fields (or items of a list) fail and their parent is nulled, the
    error reported (one: graphql-core reports the error that nulls a parent, not its
    siblings') is the first in the document's (or the list's) order. graphql-core reported
    the first to fail and cancelled the others, so the answer depended on which query the
    database answered first (found by tests/test_reads_differential.py): the same document
    on the same data now always gets the same answer.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        executor = weakref.ref(self)
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=lambda values: _alive(executor).gather_async_work(values),
            track=lambda values: _alive(executor).track_async_work(values),
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if self.is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception as error:
            if not awaitable_fields:
                raise
            return _first_failure([results[f] for f in awaitable_fields], error)
        if not awaitable_fields:
            return results

        async def settled() -> dict[str, Any]:
            values = await _settle([results[f] for f in awaitable_fields])
            results.update(zip(awaitable_fields, values, strict=True))
            return results

        return settled()

    def complete_iterable_value(self, *args: Any, **kwargs: Any) -> Any:
        # The items' awaitables never raise (``_capture``): none is cancelled, and the list
        # raises the error of its first failing item.
        completed = super().complete_iterable_value(*args, **kwargs)
        if not self.is_awaitable(completed):
            return completed

        async def first_failing_item() -> list[Any]:
            items = await completed
            for item in items:
                if isinstance(item, _Failed):
                    raise item.error
            return items  # type: ignore[no-any-return]

        return first_failing_item()

    def complete_awaitable_list_item_value(self, *args: Any, **kwargs: Any) -> Any:
        return _capture(super().complete_awaitable_list_item_value(*args, **kwargs))

    def complete_list_item_value(self, item: Any, complete_results: list[Any], *rest: Any) -> bool:
        awaitable = super().complete_list_item_value(item, complete_results, *rest)
        if awaitable:
            complete_results[-1] = _capture(complete_results[-1])
        return awaitable

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


async def _capture(awaitable: Any) -> Any:
    try:
        return await awaitable
    except Exception as error:
        return _Failed(error)


async def _settle(awaitables: list[Any]) -> list[Any]:
    """Their values, once all are done; else the first exception in their order."""
    values = await asyncio.gather(*awaitables, return_exceptions=True)
    for value in values:
        if isinstance(value, BaseException):
            raise value
    return values


async def _first_failure(earlier: list[Any], error: Exception) -> Any:
    """``error``, raised by a field, unless a field before it fails too."""
    await _settle(earlier)
    raise error


def _alive(executor: weakref.ref[Execution]) -> Execution:
    found = executor()
    if found is None:  # a resolver kept its info beyond the operation
        raise RuntimeError("the operation this resolver belonged to is over")
    return found
