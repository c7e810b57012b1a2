"""Compiled reads beyond ``compiled_reads_in_flight`` wait in the process, not in PostgreSQL
(``resolvers.compiled.plans.read``), and get the same answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from tortoise import connections

from bench.queries import PROVIDER_DASHBOARD
from presta.settings import get_settings
from tests.factories.screens import provider_with
from tests.support.executors import post


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The most compiled statements PostgreSQL was sent at once; each takes 50 ms more, so
    that concurrent requests would all overlap if nothing held them."""
    seen = {"now": 0, "most": 0}
    connection_class = type(connections.get("default"))
    real = connection_class.execute_query

    async def held(self: Any, sql: str, values: Any = None) -> Any:
        if not sql.startswith(("SELECT json_build_object('myMemberships'", "SELECT g.ok")):
            return await real(self, sql, values)
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        try:
            await asyncio.sleep(0.05)
            return await real(self, sql, values)
        finally:
            seen["now"] -= 1

    monkeypatch.setattr(connection_class, "execute_query", held)
    yield seen
    get_settings.cache_clear()


async def _dashboards(count: int) -> list[dict[str, Any]]:
    actor = await provider_with(3)
    return list(await asyncio.gather(*(post(actor, PROVIDER_DASHBOARD) for _ in range(count))))


async def test_reads_beyond_the_bound_wait_and_answer_alike(
    monkeypatch: pytest.MonkeyPatch, in_flight: dict[str, int]
) -> None:
    monkeypatch.setenv("PRESTA_COMPILED_READS_IN_FLIGHT", "2")
    get_settings.cache_clear()
    bodies = await _dashboards(8)
    assert in_flight["most"] == 2
    assert all(body["extensions"] == {"executor": "compiled"} for body in bodies)
    assert all(body == bodies[0] for body in bodies)
    assert len(bodies[0]["data"]["myMemberships"][0]["requests"]["nodes"]) == 3


async def test_without_a_bound_every_read_goes_to_the_database_at_once(
    monkeypatch: pytest.MonkeyPatch, in_flight: dict[str, int]
) -> None:
    monkeypatch.setenv("PRESTA_COMPILED_READS_IN_FLIGHT", "0")
    get_settings.cache_clear()
    bodies = await _dashboards(8)
    assert in_flight["most"] == 8
    assert all(body == bodies[0] for body in bodies)
