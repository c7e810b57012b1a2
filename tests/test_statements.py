"""Statements whose SQL is built once per shape (``presta.statements``): the second run of a
shape builds nothing, reads the same rows as tortoise, joins its related models, runs in
the caller's transaction, and a shape whose parameters or SQL are not tortoise's is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.catalog import Service
from models.marketplace import Marketplace
from presta import statements
from presta.statements import ShapeError, select, where_in


@pytest.fixture
def built_once() -> Iterator[None]:
    """As in service: each shape's SQL built the first time only."""
    statements.verify = False
    try:
        yield
    finally:
        statements.verify = True


async def _catalogue() -> tuple[Marketplace, list[Service]]:
    market = await Marketplace.create(name="Ménage Plus", slug="menage-plus")
    services = [
        await Service.create(marketplace=market, name=name, category="home")
        for name in ("Repassage", "Ménage", "Jardinage")
    ]
    return market, services


async def test_a_shape_seen_before_is_not_built_again(built_once: None) -> None:
    _, services = await _catalogue()
    built: list[int] = []

    def query(keys: list[int]) -> QuerySet[Service]:
        built.append(len(keys))
        return Service.filter(id__in=keys)

    first = [s.id for s in services[:2]]
    second = [services[2].id, services[0].id]
    found = await select("services of a test", first, lambda: query(first))
    again = await select("services of a test", second, lambda: query(second))
    assert built == [2], "the second query of the shape was built again"
    assert sorted(s.name for s in found) == ["Ménage", "Repassage"]
    assert sorted(s.name for s in again) == ["Jardinage", "Repassage"]
    # Another number of keys is another statement.
    all_ids = [s.id for s in services]
    assert len(await select("services of a test", all_ids, lambda: query(all_ids))) == 3
    assert built == [2, 3]


async def test_rows_are_the_ones_tortoise_reads_with_their_related_models(
    built_once: None,
) -> None:
    market, services = await _catalogue()
    ids = [s.id for s in services]
    for _ in range(2):  # built, then cached
        ordered = await where_in(Service, "id", ids, related=("marketplace",), order=("name",))
        expected = await Service.filter(id__in=ids).order_by("name")
        assert [(s.id, s.name, s.category) for s in ordered] == [
            (s.id, s.name, s.category) for s in expected
        ]
        assert {s.marketplace.slug for s in ordered} == {market.slug}


async def test_a_cached_statement_runs_in_the_callers_transaction(built_once: None) -> None:
    _, services = await _catalogue()
    ids = [s.id for s in services]
    await where_in(Service, "id", ids)  # built outside any transaction

    class RolledBack(Exception):
        pass

    seen_inside: set[str] = set()
    with pytest.raises(RolledBack):
        await _renamed_then_rolled_back(ids, seen_inside, RolledBack)
    # Uncommitted, the new name was visible only to the transaction's own connection.
    assert "Vitres" in seen_inside
    assert "Vitres" not in {s.name for s in await where_in(Service, "id", ids)}


async def test_parameters_other_than_tortoises_are_refused() -> None:
    market, services = await _catalogue()
    ids = [s.id for s in services]
    with pytest.raises(ShapeError, match="parameters"):
        await select("swapped parameters", [market.id, *ids], lambda: _of(ids, market.id))
    # In the right order, the same query runs.
    assert (
        len(await select("right parameters", [*ids, market.id], lambda: _of(ids, market.id))) == 3
    )


async def test_a_shape_that_misses_what_its_sql_depends_on_fails_under_verify() -> None:
    _, services = await _catalogue()
    ids = [services[0].id]
    await select("too coarse", ids, lambda: Service.filter(id__in=ids))
    with pytest.raises(ShapeError, match="different SQL"):
        await select("too coarse", ids, lambda: Service.filter(id__in=ids).order_by("name"))


def _of(ids: list[int], marketplace_id: int) -> QuerySet[Service]:
    return Service.filter(id__in=ids, marketplace_id=marketplace_id)


async def _renamed_then_rolled_back(ids: list[int], seen: set[str], error: type[Exception]) -> None:
    async with in_transaction():
        await Service.filter(id=ids[0]).update(name="Vitres")
        seen.update(s.name for s in await where_in(Service, "id", ids))
        raise error
