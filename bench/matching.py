"""Matching time at 1k, 10k and 100k providers, and the query plan that keeps it flat.

Runs on a database of its own (``presta_bench_matching`` on the PostgreSQL of
``PRESTA_BENCH_DATABASE_URL``, default the local server), dropped at the end. Providers are
bulk-loaded with COPY: each has ~5 of 20 services and a zone of 20 postal codes of its
département or one circle (5-50 km) somewhere in metropolitan France; 2 documents required.

    python -m bench matching
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from bench._servers import admin_url, database_url

SIZES = (1_000, 10_000, 100_000)
QUERIES = 200
SERVICES = 20
DATABASE = "presta_bench_matching"
DEPARTEMENTS = [f"{d:02d}" for d in range(1, 96) if d != 20]
_NOW = datetime(2026, 1, 1, tzinfo=UTC)

Row = tuple[str, float, str]


def _bench_url() -> str:
    return database_url(DATABASE)


def _postal_codes(departement: str) -> list[str]:
    return [f"{departement}{n:03d}" for n in range(0, 1000, 10)]


class _Loader:
    """Appends providers with explicit ids, so sizes grow without reloading."""

    def __init__(self, marketplace_id: int, services: list[int], doc_types: list[int]) -> None:
        self.marketplace_id = marketplace_id
        self.services = services
        self.doc_types = doc_types
        self.count = 0
        self.entry_id = 0
        self.key_id = 0
        self.row_id = 0
        self.rng = random.Random(4)

    def _next_row(self) -> int:
        self.row_id += 1
        return self.row_id

    def rows(self, upto: int) -> dict[str, list[tuple[Any, ...]]]:
        from models.zone import circle_cell_keys

        out: dict[str, list[tuple[Any, ...]]] = {
            t: []
            for t in (
                "provider_company",
                "membership",
                "provider_service",
                "document",
                "zone_entry",
                "zone_key",
            )
        }
        rng = self.rng
        today = _NOW.date()
        for n in range(self.count + 1, upto + 1):
            out["provider_company"].append((n, f"Provider {n}", "", "", "", False, _NOW))
            status = "ACCEPTED" if rng.random() < 0.9 else rng.choice(["SUSPENDED", "APPLIED"])
            out["membership"].append((n, status, _NOW, _NOW, n, self.marketplace_id))
            for service in rng.sample(self.services, 5):
                ps_status = "ACCEPTED" if rng.random() < 0.8 else "PENDING"
                out["provider_service"].append((self._next_row(), ps_status, "", _NOW, n, service))
            for doc_type in self.doc_types:
                expires = today + timedelta(days=rng.randint(-30, 700))
                out["document"].append(
                    (
                        self._next_row(),
                        "COMPANY",
                        "",
                        "doc.pdf",
                        "application/pdf",
                        1,
                        "0" * 64,
                        f"bench-{n}-{doc_type}",
                        expires,
                        _NOW,
                        n,
                        doc_type,
                    )
                )
            if rng.random() < 0.5:
                departement = rng.choice(DEPARTEMENTS)
                for code in rng.sample(_postal_codes(departement), 20):
                    self.entry_id += 1
                    self.key_id += 1
                    out["zone_entry"].append(
                        (self.entry_id, "POSTAL_CODE", code, None, None, None, _NOW, n)
                    )
                    out["zone_key"].append((self.key_id, code, None, None, None, n, self.entry_id))
            else:
                lat, lon = rng.uniform(43.0, 50.5), rng.uniform(-1.5, 7.5)
                radius = rng.uniform(5.0, 50.0)
                self.entry_id += 1
                out["zone_entry"].append((self.entry_id, "CIRCLE", None, lat, lon, radius, _NOW, n))
                for key in circle_cell_keys(lat, lon, radius):
                    self.key_id += 1
                    out["zone_key"].append((self.key_id, key, lat, lon, radius, n, self.entry_id))
        self.count = upto
        return out


_COLUMNS = {
    "provider_company": (
        "id",
        "name",
        "siret",
        "email",
        "phone",
        "listed_in_directory",
        "created_at",
    ),
    "membership": ("id", "status", "created_at", "updated_at", "company_id", "marketplace_id"),
    "provider_service": ("id", "status", "reason", "updated_at", "membership_id", "service_id"),
    "document": (
        "id",
        "kind",
        "title",
        "filename",
        "content_type",
        "size",
        "sha256",
        "storage_key",
        "expires_on",
        "created_at",
        "company_id",
        "document_type_id",
    ),
    "zone_entry": (
        "id",
        "kind",
        "code",
        "latitude",
        "longitude",
        "radius_km",
        "created_at",
        "company_id",
    ),
    "zone_key": ("id", "key", "latitude", "longitude", "radius_km", "company_id", "entry_id"),
}


async def _copy(conn: asyncpg.Connection, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    # The rows are consistent by construction: skip the per-row foreign key triggers.
    await conn.execute("SET session_replication_role = replica")
    for table, records in rows.items():
        await conn.copy_records_to_table(table, records=records, columns=_COLUMNS[table])
    await conn.execute("SET session_replication_role = DEFAULT")
    # What autovacuum does in production: statistics, and the visibility map for index-only scans.
    await conn.execute("VACUUM ANALYZE")


def _addresses(rng: random.Random) -> Iterator[tuple[str, float, float]]:
    while True:
        code = rng.choice(_postal_codes(rng.choice(DEPARTEMENTS)))
        yield code, rng.uniform(43.0, 50.5), rng.uniform(-1.5, 7.5)


async def _time_matching(
    marketplace_id: int, services: list[int], today: date
) -> tuple[list[float], float]:
    from resolvers.matching import matching_membership_ids

    rng = random.Random(7)
    addresses = _addresses(rng)
    timings: list[float] = []
    found = 0
    for i in range(QUERIES + 10):
        code, lat, lon = next(addresses)
        start = time.perf_counter()
        ids = await matching_membership_ids(
            marketplace_id=marketplace_id,
            service_id=rng.choice(services),
            postal_code=code,
            latitude=lat,
            longitude=lon,
            on=today,
        )
        elapsed = (time.perf_counter() - start) * 1000
        if i >= 10:  # warm-up
            timings.append(elapsed)
            found += len(ids)
    return timings, found / QUERIES


async def _explain(conn: asyncpg.Connection, marketplace_id: int, service_id: int) -> str:
    from presta.db import bind
    from resolvers.matching import match_statement

    sql, params = match_statement(
        marketplace_id=marketplace_id,
        service_id=service_id,
        postal_code="75010",
        latitude=48.87,
        longitude=2.36,
        on=_NOW.date(),
    )
    text, values = bind(sql, params)
    plan = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) {text}", *values)
    return "\n".join(r[0] for r in plan)


async def run(*, show_plan: bool = True) -> list[Row]:
    """Load each size, time the matching, return (name, figure, unit) rows."""
    from tortoise import Tortoise

    from models.catalog import Service
    from models.document import DocumentType, RequiredDocumentType
    from models.marketplace import Marketplace
    from presta import db
    from presta.settings import override_settings, settings
    from service.migrate import migrate

    admin = await asyncpg.connect(admin_url())
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    rows: list[Row] = []
    previous = settings().model_dump()
    try:
        override_settings(database_url=_bench_url(), db_pool_min=1, db_pool_max=4)
        await migrate()
        await db.init_db()
        marketplace = await Marketplace.create(name="Bench", slug="bench")
        services = [
            (await Service.create(marketplace=marketplace, name=f"Service {i}")).id
            for i in range(SERVICES)
        ]
        doc_types = []
        for code in ("kbis", "insurance"):
            doc_type = await DocumentType.create(code=code, label=code, expires=True)
            await RequiredDocumentType.create(marketplace=marketplace, document_type=doc_type)
            doc_types.append(doc_type.id)
        loader = _Loader(marketplace.id, services, doc_types)
        conn = await asyncpg.connect(_bench_url())
        try:
            for size in SIZES:
                start = time.perf_counter()
                await _copy(conn, loader.rows(size))
                load_s = time.perf_counter() - start
                timings, matched = await _time_matching(marketplace.id, services, _NOW.date())
                label = f"matching, {size // 1000}k providers"
                rows += [
                    (f"{label}: median", statistics.median(timings), "ms"),
                    (f"{label}: p95", statistics.quantiles(timings, n=20)[-1], "ms"),
                    (f"{label}: providers matched (mean)", matched, "providers"),
                    (f"{label}: bulk load", load_s, "s"),
                ]
            if show_plan:
                print(f"EXPLAIN ANALYZE at {SIZES[-1]} providers (75010, Paris, one service):")
                print(await _explain(conn, marketplace.id, services[0]))
                print()
        finally:
            await conn.close()
            await Tortoise.close_connections()
    finally:
        override_settings(**previous)
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.close()
    return rows


if __name__ == "__main__":
    from bench import main

    raise SystemExit(main(["matching"]))
