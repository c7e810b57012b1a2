"""The staff `clients` list at 10k and 100k clients of one marketplace (as many again in
another): the first page, a search that matches a few, and one that matches many.

Runs on a database of its own on the PostgreSQL of ``PRESTA_BENCH_DATABASE_URL`` (default the
local server), dropped at the end. Clients are bulk-loaded with COPY.

    python -m bench clients
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench._servers import database

SIZES = (10_000, 100_000)
QUERIES = 50
FIRST = ("Jeanne", "Paul", "Karim", "Sophie", "Lucas", "Emma", "Hugo", "Léa", "Nina", "Tom")
LAST = ("Martin", "Durand", "Benali", "Petit", "Roux", "Moreau", "Lefebvre", "Garcia", "Faure")
Row = tuple[str, float, str]


def _clients(marketplace_id: int, start: int, count: int) -> list[tuple[Any, ...]]:
    rng = random.Random(start)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(start, start + count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        email = f"client{n}@mail{n % 97}.example"
        phone = f"+33 6 {n % 100:02d} {n // 100 % 100:02d} {n // 10000 % 100:02d} {n % 89:02d}"
        rows.append((n, marketplace_id, name, email, phone, 0, now))
    return rows


async def _time(actor: Any, search: str | None) -> tuple[list[float], int]:
    from resolvers.client.reads import list_clients

    timings, found = [], 0
    for _ in range(QUERIES):
        start = time.perf_counter()
        page = await list_clients(actor, search=search, first=20)
        timings.append((time.perf_counter() - start) * 1000)
        found = len(page.items)
    return timings, found


async def _explain(conn: asyncpg.Connection, marketplace_id: int, search: str | None) -> str:
    from tortoise.expressions import Q

    from models.account import Client

    query = Client.filter(marketplace_id=marketplace_id, erased_at=None)
    if search:
        query = query.filter(
            Q(full_name__icontains=search) | Q(email__icontains=search) | Q(phone__icontains=search)
        )
    built = query.order_by("-id").limit(21)
    built._make_query()
    sql, params = built.query.get_parameterized_sql()
    statement = await conn.prepare(f"EXPLAIN ANALYZE {sql}")
    plan = await statement.fetch(*params)
    return "\n".join(r[0] for r in plan)


async def run() -> list[Row]:
    from tortoise import Tortoise

    from models.account import StaffRole
    from models.marketplace import Marketplace
    from presta import db
    from presta.settings import override_settings, settings
    from resolvers.actor import Actor
    from service.migrate import migrate

    rows: list[Row] = []
    previous = settings().model_dump()
    async with database("clients") as url:
        try:
            override_settings(database_url=url, db_pool_min=1, db_pool_max=4)
            await migrate()
            await db.init_db()
            mine = await Marketplace.create(name="Bench", slug="bench")
            other = await Marketplace.create(name="Other", slug="other")
            staff = Actor(user_id=1, marketplace_id=mine.id, staff_role=StaffRole.ADMIN)
            conn = await asyncpg.connect(url)
            loaded, next_id = 0, 1
            try:
                for size in SIZES:
                    for market in (mine, other):
                        records = _clients(market.id, next_id, size - loaded)
                        next_id += len(records)
                        await conn.copy_records_to_table(
                            "account_client",
                            records=records,
                            columns=[
                                "id", "marketplace_id", "full_name", "email", "phone",
                                "invitation_sent_count", "created_at",
                            ],
                        )  # fmt: skip
                    loaded = size
                    await conn.execute("ANALYZE account_client")
                    label = f"clients, {size // 1000}k in the marketplace"
                    for what, search in (
                        ("first page", None),
                        ("search an e-mail (one)", "client4242@"),
                        ("search a name (many)", "martin"),
                        ("search nothing found", "zzz"),
                    ):
                        timings, found = await _time(staff, search)
                        rows += [
                            (f"{label}, {what}: median", statistics.median(timings), "ms"),
                            (f"{label}, {what}: rows", found, "clients"),
                        ]
                print(f"EXPLAIN ANALYZE at {SIZES[-1]} clients:")
                for search in (None, "zzz"):
                    print(await _explain(conn, mine.id, search))
            finally:
                await conn.close()
                await Tortoise.close_connections()
        finally:
            override_settings(**previous)
    return rows


if __name__ == "__main__":
    from bench import main

    raise SystemExit(main(["clients"]))
