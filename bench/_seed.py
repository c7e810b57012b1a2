"""Seeding the small databases of the live benchmarks through the models (bulk inserts)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any


@contextlib.asynccontextmanager
async def migrated(url: str, secret: str) -> AsyncIterator[None]:
    """The database migrated and open for the models; tokens signed with the server's key."""
    from tortoise import Tortoise

    from presta import db
    from presta.settings import override_settings
    from service.migrate import migrate

    override_settings(database_url=url, secret_key=secret, environment="test")
    await migrate()
    await db.init_db()
    try:
        yield
        # Statistics of what was just seeded, as autovacuum would have gathered them on a
        # database in service. Without them the planner guesses a few rows per table: the
        # dispatch snapshot joined 1,000 memberships in a nested loop, 15 ms instead of 0.5.
        await Tortoise.get_connection("default").execute_script("ANALYZE")
    finally:
        await db.close_db()


async def accepted_providers(
    market: Any, count: int, label: str, password_hash: str
) -> tuple[list[Any], list[Any]]:
    """``count`` provider companies ACCEPTED in the marketplace, one user each (e-mail
    ``p<n>@<label>.test``), all working in 75011: their memberships and users, in order."""
    from tortoise.transactions import in_transaction

    from models.account import User
    from models.membership import Membership, MembershipStatus, ProviderCompany
    from resolvers.zone import Area, replace_zone

    await ProviderCompany.bulk_create(
        [ProviderCompany(name=f"{label.title()} provider {n}") for n in range(count)]
    )
    companies = await ProviderCompany.all().order_by("id")
    await Membership.bulk_create(
        [
            Membership(marketplace=market, company=c, status=MembershipStatus.ACCEPTED)
            for c in companies
        ]
    )
    await User.bulk_create(
        [
            User(email=f"p{n}@{label}.test", password_hash=password_hash, provider_company=c)
            for n, c in enumerate(companies)
        ]
    )
    async with in_transaction():
        for company in companies:
            await replace_zone(
                company_id=company.id,
                membership_id=None,
                area=Area(postal_codes=("75011",), prefixes=(), circles=()),
            )
    memberships = await Membership.filter(marketplace=market).order_by("id")
    users = await User.filter(email__startswith="p").order_by("id")
    return memberships, users


def past_requests(marketplace_id: int, count: int, service_ids: list[int] | None = None) -> str:
    """SQL writing the marketplace's past month of ``count`` requests (expired) of its services
    (or of ``service_ids``), spread over its clients, each sent to every provider of its
    service, with the answers. Run before the statistics are taken (``migrated``): a benchmark
    started on empty tables measures plans no marketplace in service has, kept with each pooled
    connection's prepared statements while the tables fill (sequential scans, nested)."""
    m, n = int(marketplace_id), int(count)
    among = f"id IN ({', '.join(str(int(s)) for s in service_ids)})" if service_ids else "true"
    return f"""
    INSERT INTO service_request (status, postal_code, city, address_line, description, round,
        cancel_reason, created_at, updated_at, client_id, marketplace_id, service_id)
    SELECT 'EXPIRED', '75011', 'Paris', k || ' rue de la Roquette', 'Earlier request ' || k, 1,
        '', at, at, c.ids[1 + k % cardinality(c.ids)], {m}, s.ids[1 + k % cardinality(s.ids)]
    FROM generate_series(1, {n}) k,
        LATERAL (SELECT now() - interval '30 days' + k * interval '30 days' / {n} AS at) t,
        (SELECT array_agg(id ORDER BY id) ids FROM account_client WHERE marketplace_id = {m}) c,
        (SELECT array_agg(id ORDER BY id) ids FROM service
         WHERE marketplace_id = {m} AND {among}) s;
    INSERT INTO request_round (number, providers_asked, started_at, request_id)
    SELECT 1, 20, created_at, id FROM service_request WHERE marketplace_id = {m};
    INSERT INTO dispatch (round, status, message, created_at, updated_at, answered_at,
        membership_id, request_id)
    SELECT 1, a.status, '', r.created_at, r.created_at,
        CASE WHEN a.status <> 'PENDING' THEN r.created_at + interval '1 hour' END,
        ps.membership_id, r.id
    FROM service_request r JOIN provider_service ps ON ps.service_id = r.service_id,
        LATERAL (SELECT (ARRAY['PENDING', 'INTERESTED', 'DECLINED'])[
            1 + (r.id + ps.membership_id) % 3] AS status) a
    WHERE r.marketplace_id = {m};
    INSERT INTO dispatch_answer_audit (round, from_status, to_status, message, created_at,
        dispatch_id)
    SELECT 1, 'PENDING', status, '', answered_at, id FROM dispatch WHERE status <> 'PENDING';
    """
