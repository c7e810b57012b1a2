"""Tortoise queries on the hot paths, their SQL built once per shape.

Tortoise builds a query's SQL with pypika each time it runs: 0.1 to 0.3 ms of CPU per
statement, a quarter of the provider dashboard's CPU (bench/RESULTS.md, fifth round). The loaders
and pages that every screen runs name the *shape* of their query - all that decides its SQL
text: the call site, the filters taken, the number of keys of an ``IN`` list - and give its
parameters in the order the SQL takes them. The SQL is built the first time a shape is seen
and reused after; tortoise still reads the rows into models (``select_related`` included).

``verify`` (on in the test suite) builds every statement again and checks that the SQL and
the parameters given are the ones tortoise makes, so a shape that misses something its SQL
depends on fails a test instead of reading the wrong rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise import connections
from tortoise.models import Model
from tortoise.queryset import QuerySet

M = TypeVar("M", bound=Model)

verify = False


@dataclass(frozen=True, slots=True)
class _Statement:
    model: type[Model]
    sql: str
    related: list[Any]  # tortoise's ``select_related_idx``: how a row splits into models
    annotations: list[str]


_built: dict[tuple[Hashable, int], _Statement] = {}


class ShapeError(AssertionError):
    """A shape's SQL or parameters are not what tortoise makes of its query."""


def _build(query: QuerySet[Any]) -> tuple[_Statement, list[Any]]:
    if query._prefetch_map or query._single or query._select_for_update:
        raise ShapeError("only plain selects are cached (no prefetch, get or for update)")
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, values = query.query.get_parameterized_sql()
    statement = _Statement(
        query.model, sql, list(query._select_related_idx), list(query._annotations)
    )
    return statement, list(values)


async def select(
    shape: Hashable, params: Sequence[Any], query: Callable[[], QuerySet[M]]
) -> list[M]:
    """The rows of ``query()``, whose SQL is built only the first time ``shape`` is seen;
    ``params`` are its parameters, in the order tortoise puts them in the SQL."""
    db = connections.get("default")
    key = (shape, len(params))
    statement = _built.get(key)
    if statement is None or verify:
        fresh, values = _build(query())
        if values != list(params):
            raise ShapeError(f"{shape!r}: parameters {list(params)!r}, tortoise makes {values!r}")
        if statement is not None and statement.sql != fresh.sql:
            raise ShapeError(f"{shape!r}: two queries of this shape make different SQL")
        statement = _built.setdefault(key, fresh)
    executor = db.executor_class(model=statement.model, db=db, select_related_idx=statement.related)
    rows: list[M] = await executor.execute_select(
        statement.sql, list(params), custom_fields=statement.annotations
    )
    return rows


async def where_in(
    model: type[M],
    field: str,
    keys: Sequence[Any],
    *,
    related: tuple[str, ...] = (),
    order: tuple[str, ...] = (),
) -> list[M]:
    """The rows of ``model`` whose ``field`` is one of ``keys`` (a loader's batch), with the
    ``related`` models joined, in ``order``."""

    def query() -> QuerySet[M]:
        found = model.filter(**{f"{field}__in": keys}).select_related(*related)
        return found.order_by(*order) if order else found

    return await select((model, field, related, order), keys, query)
