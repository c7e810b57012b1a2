"""The rows of a page (requests, visits, conversations) are loaded ahead of the fields that
read them: their resolvers find their data and return at once, so a page costs the same
number of tasks whatever its length, and whether its fields are asked under ``nodes``,
``edges { node }`` or in fragments."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from resolvers.actor import Actor
from schema import loaders
from tests.factories.screens import provider_with
from tests.support.graphql import execute, ok

PAGES = """
query($rows: Int!) { myMemberships {
  requests(first: $rows) { nodes {
    id service { name } client { fullName } myDispatch { status answerHistory { toStatus } }
  } }
  interventions(first: $rows) { nodes { id service { name } companyName } }
  conversations(first: $rows) { nodes { id unreadCount lastMessage { text } } }
} }"""

THROUGH_EDGES_AND_FRAGMENTS = """
fragment Asked on ServiceRequest { service { name } myDispatch { answerHistory { toStatus } } }
query($rows: Int!) { myMemberships {
  requests(first: $rows) { edges { node { id ...Asked client { fullName } } } }
  interventions(first: $rows) { edges { node { id ... on Intervention { companyName } } } }
  conversations(first: $rows) { edges { node { ... on Conversation { unreadCount } } } }
} }"""


@contextmanager
def tasks_started() -> Iterator[list[int]]:
    """How many tasks the block's event loop started."""
    loop = asyncio.get_running_loop()
    started = [0]
    previous = loop.get_task_factory()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        started[0] += 1
        if previous is not None:
            return previous(loop, coro, **kw)  # type: ignore[return-value]
        return asyncio.Task(coro, loop=loop, **kw)

    loop.set_task_factory(factory)
    try:
        yield started
    finally:
        loop.set_task_factory(previous)


async def _tasks(query: str, actor: Actor, rows: int) -> int:
    await ok(query, {"rows": rows}, actor=actor)
    fewest = None
    for _ in range(3):
        with tasks_started() as started:
            data = await ok(query, {"rows": rows}, actor=actor, executor="standard")
        assert data["myMemberships"][0]["requests"]
        fewest = started[0] if fewest is None else min(fewest, started[0])
    assert fewest is not None
    return fewest


async def test_a_page_of_5_and_of_40_rows_start_the_same_tasks() -> None:
    actor = await provider_with(40)
    for query in (PAGES, THROUGH_EDGES_AND_FRAGMENTS):
        assert await _tasks(query, actor, 5) == await _tasks(query, actor, 40), query


async def test_a_load_ahead_that_fails_is_reported_by_the_fields_reading_it(
    monkeypatch: Any,
) -> None:
    actor = await provider_with(3)

    async def broken(self: Any, keys: list[int]) -> Any:
        raise RuntimeError("the service table is away")

    monkeypatch.setattr(loaders.ServiceByIdLoader, "fetch", broken)
    result = await execute(PAGES, {"rows": 3}, actor=actor, executor="standard")
    assert result.errors is not None
    # As without loading ahead: the field that reads the rows fails, not the page.
    assert {e["path"][-1] for e in result.errors} == {"service"}
    assert {e["extensions"]["code"] for e in result.errors} == {"INTERNAL_SERVER_ERROR"}
