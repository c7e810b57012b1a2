"""A fresh PostgreSQL database of a test's own, and ``presta serve --demo`` (what ``make run``
runs) on one, for tests that drive the demo the way a person or a partner would."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.api_server import Server, clean_env, presta_serve
from tests.support.this_run import SERVERS


@contextlib.asynccontextmanager
async def fresh_postgres(prefix: str = "presta_e2e") -> AsyncIterator[str]:
    """The URL of a new, empty database on this run's PostgreSQL, dropped afterwards."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(SERVERS.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlsplit(SERVERS.admin_url)._replace(path=f"/{name}").geturl()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def demo_server(log_dir: Path) -> AsyncIterator[Server]:
    """``presta serve --demo`` on a database of its own: migrated, demo data loaded, serving.

    Its files and the demo's notes go under ``log_dir``, never the developer's ``var/``.
    """
    async with fresh_postgres("presta_demo") as database_url:
        env = clean_env(
            PRESTA_DATABASE_URL=database_url,
            PRESTA_STORAGE_DIR=str(log_dir / "storage"),
            PRESTA_DB_POOL_MIN="1",
            PRESTA_DB_POOL_MAX="5",
        )
        # Migrating and loading the demo take a few seconds more on a busy machine.
        with presta_serve(env, log_dir, "demo", "--demo", ready_within=120) as server:
            yield server
