"""Tortoise set-up: one config for the API, the workers, the CLI and the migrations."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise, connections

from presta.settings import Settings, settings

MODELS_MODULES = ["models"]


def database_url(cfg: Settings | None = None) -> str:
    cfg = cfg or settings()
    url = cfg.database_url
    if not cfg.is_postgres:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    # asyncpg's default pool (maxsize=5) starves under concurrent requests.
    query.setdefault("minsize", str(cfg.db_pool_min))
    query.setdefault("maxsize", str(cfg.db_pool_max))
    scheme = "asyncpg" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def tortoise_config(cfg: Settings | None = None) -> dict[str, Any]:
    return {
        "connections": {"default": database_url(cfg)},
        "apps": {
            "models": {
                "models": MODELS_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# `tortoise makemigrations` reads this (pyproject: [tool.tortoise]).
TORTOISE_ORM = tortoise_config()


async def init_db(cfg: Settings | None = None) -> None:
    """Initialise Tortoise for this process, visible from every task and thread."""
    cfg = cfg or settings()
    if not cfg.is_postgres:
        _ensure_sqlite_dir(cfg.database_url)
    await Tortoise.init(config=tortoise_config(cfg), _enable_global_fallback=True)


async def close_db() -> None:
    """Close the pools and release the global context (a later ``init_db`` may follow)."""
    await Tortoise.close_connections()


async def migrate_db(cfg: Settings | None = None) -> None:
    from tortoise.migrations.api.migrate import migrate

    cfg = cfg or settings()
    if not cfg.is_postgres:
        _ensure_sqlite_dir(cfg.database_url)
    await migrate(config=tortoise_config(cfg))
    await close_db()
    # Reference data (the document-type catalogue) needs fully initialised models.
    from resolvers.document import ensure_document_types

    await init_db(cfg)
    await ensure_document_types()
    await close_db()


async def ping_db() -> None:
    await connections.get("default").execute_query("SELECT 1")


def is_postgres() -> bool:
    return settings().is_postgres


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    path = url.split("://", 1)[1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
