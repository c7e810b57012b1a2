"""Test set-up: a fresh PostgreSQL database per run (on private servers when the machine's do
not answer: tests/support/servers.py), a local SMTP server, in-process jobs, and a clean
database for every test."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import servers
from tests.support.this_run import SERVERS

STORAGE = Path(tempfile.mkdtemp(prefix="presta-storage-"))

# Settings are read at import time by some modules: fix them before importing ours.
os.environ.update(
    {
        "PRESTA_ENVIRONMENT": "test",
        "PRESTA_DATABASE_URL": SERVERS.database_url,
        "PRESTA_REDIS_URL": SERVERS.redis_url,
        "PRESTA_BROADCAST_URL": "memory://",
        "PRESTA_JOBS_BACKEND": "inline",
        "PRESTA_STORAGE_DIR": str(STORAGE),
        "PRESTA_LOG_JSON": "false",
        # Parallel runs on one Redis must not hear each other.
        "PRESTA_REDIS_NAMESPACE": f"presta-test-{uuid.uuid4().hex[:8]}",
    }
)

import workers.actors  # noqa: E402, F401  (the jobs run in-process, as in the embedded default)
from presta import clock, db, events, jobs, statements  # noqa: E402
from presta.settings import get_settings  # noqa: E402
from presta.sharing import Shared  # noqa: E402
from resolvers import credentials  # noqa: E402
from resolvers.marketplace import forget_slugs  # noqa: E402
from service.migrate import migrate  # noqa: E402
from tests.support.mailbox import Mailbox  # noqa: E402

get_settings.cache_clear()
# Every cached statement is built again and checked against what tortoise makes of it.
statements.verify = True


def pytest_report_header(config: pytest.Config) -> list[str]:
    private = ", ".join(f"{type(s).__name__} in {s.directory}" for s in SERVERS.private)
    return [
        f"presta: PostgreSQL {SERVERS.database_url}, Redis {SERVERS.redis_url}"
        + (f" (private for this run: {private})" if private else "")
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    SERVERS.stop()


async def _admin_execute(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(SERVERS.admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session", autouse=True)
async def database() -> AsyncIterator[None]:
    name = urlsplit(SERVERS.database_url).path.lstrip("/")
    await _admin_execute(f'CREATE DATABASE "{name}"')
    await migrate()
    await db.init_db()
    yield
    await db.close_db()
    await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _truncate_all() -> None:
    from tortoise import Tortoise, connections

    conn = connections.get("default")
    tables = [m._meta.db_table for m in Tortoise.apps["models"].values()]
    await conn.execute_script(
        "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
    )


@pytest.fixture(autouse=True)
async def clean_state(database: None) -> AsyncIterator[None]:
    await _truncate_all()
    events.forget_order()  # the event ids start again
    Shared.forget_all()
    forget_slugs()
    credentials.forget_all()
    clock.reset()
    yield
    await jobs.drain()
    clock.reset()


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    os.environ["PRESTA_SMTP_PORT"] = str(box.port)
    os.environ["PRESTA_SMTP_HOST"] = "127.0.0.1"
    get_settings.cache_clear()
    yield box
    box.stop()


@pytest.fixture(autouse=True)
def _empty_mailbox(mailbox: Mailbox) -> None:
    mailbox.clear()


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A directory for a private PostgreSQL or Redis (service.embedded), removed afterwards."""
    with servers.server_dir() as path:
        yield path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: starts real server processes")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Which executor answered the differential read tests: the compiler's coverage.
    from tests.support.differential import summary

    line = summary()
    if line:
        terminalreporter.write_line(line)
