"""schema.http.hooks.Schema runs extension hooks as strawberry does, per subscription event too."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator

import strawberry
from strawberry.extensions import SchemaExtension

from schema.http.hooks import Schema


@strawberry.type
class Query:
    ping: str = "pong"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self) -> AsyncGenerator[int, None]:
        for n in range(3):
            yield n


class _Seen(SchemaExtension):
    events: list[object] = []
    operations = 0

    def on_operation(self) -> Iterator[None]:
        type(self).operations += 1
        yield

    def on_stream_result(self, result: object) -> Iterator[None]:
        type(self).events.append(result)
        yield


async def _collect(schema: Schema) -> list[object]:
    stream = await schema.subscribe("subscription { count }")
    assert not isinstance(stream, strawberry.types.ExecutionResult)
    return [result.data async for result in stream]


async def test_an_extension_with_a_stream_hook_sees_every_event():
    _Seen.events = []
    _Seen.operations = 0
    schema = Schema(query=Query, subscription=Subscription, extensions=[_Seen])
    assert await _collect(schema) == [{"count": 0}, {"count": 1}, {"count": 2}]
    assert len(_Seen.events) == 3
    assert _Seen.operations == 1


async def test_without_stream_hooks_every_event_arrives():
    schema = Schema(query=Query, subscription=Subscription, extensions=[])
    assert await _collect(schema) == [{"count": 0}, {"count": 1}, {"count": 2}]
