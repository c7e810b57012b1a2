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
