"""Tortoise set-up: one config for the API, the workers, the CLI and the migrations."""

from __future__ import annotations

import re
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from tortoise import Model, Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import DBConnectionError

from presta.settings import Settings, SettingsError, settings

MODELS_MODULES = ["models"]
T = TypeVar("T")
M = TypeVar("M", bound=Model)


def database_url(cfg: Settings | None = None) -> str:
    cfg = cfg or settings()
    url = cfg.database_url
    if not url:
        raise SettingsError(
            "PRESTA_DATABASE_URL is unset: the presta command runs on the embedded PostgreSQL, "
            "anything else needs the URL of one"
        )
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    # asyncpg's default pool (maxsize=5) starves under concurrent requests.
    query.setdefault("minsize", str(cfg.db_pool_min))
    query.setdefault("maxsize", str(cfg.db_pool_max))
    # asyncpg waits 60 s for a connection by default: a vanished host would hold requests.
    query.setdefault("timeout", str(cfg.db_connect_timeout_seconds))
    # Closing idle connections costs a timer armed on every release and cancelled on every
    # acquire (several per request); the pool is bounded by maxsize anyway.
    query.setdefault("max_inactive_connection_lifetime", "0")
    scheme = "asyncpg" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pool connection released without the session-reset round trip.

    asyncpg's default release sends ``RESET ALL; UNLISTEN *; CLOSE ALL;
    pg_advisory_unlock_all()``: one more round trip per released connection, about a tenth of a
    small query's time. Presta never changes session state (no SET, LISTEN, cursors held
    across transactions or session advisory locks: only ``pg_advisory_xact_lock``), and an
    unfinished transaction is still rolled back by asyncpg before the connection is reused.
    """

    def get_reset_query(self) -> str:
        return ""


def _connection(cfg: Settings) -> dict[str, Any]:
    config = expand_db_url(database_url(cfg))
    config["credentials"]["connection_class"] = PooledConnection
    return config


def tortoise_config(cfg: Settings | None = None) -> dict[str, Any]:
    cfg = cfg or settings()
    return {
        "connections": {"default": _connection(cfg)},
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


def __getattr__(name: str) -> Any:
    # `tortoise -c presta.db.TORTOISE_ORM makemigrations` (make migrations) reads this; built
    # when asked, as the URL may be unset until the presta command starts the embedded server.
    if name == "TORTOISE_ORM":
        return tortoise_config()
    raise AttributeError(name)


async def init_db(cfg: Settings | None = None) -> None:
    """Initialise Tortoise for this process, visible from every task and thread."""
    cfg = cfg or settings()
    await Tortoise.init(config=tortoise_config(cfg), _enable_global_fallback=True)


async def close_db() -> None:
    """Close the pools and release the global context (a later ``init_db`` may follow)."""
    await Tortoise.close_connections()


async def migrate_db(cfg: Settings | None = None) -> None:
    """Apply the migrations; reference data is the process's to load (``service.migrate``)."""
    from tortoise.migrations.api.migrate import migrate

    cfg = cfg or settings()
    await migrate(config=tortoise_config(cfg))
    await close_db()


# A restart, a crash or a refused connection: the database cannot serve now, retry later.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InterfaceError,
    # A connection cut in the middle of an operation can leave asyncpg's protocol in this state.
    asyncpg.exceptions.InternalClientError,
    DBConnectionError,
)


def is_unavailable(error: BaseException | None) -> bool:
    """Whether the error, or one it was raised from, says the database is out of reach."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, _UNAVAILABLE):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


async def ping_db() -> None:
    await connections.get("default").execute_query("SELECT 1")


def padded(keys: list[T]) -> list[T]:
    """The keys, the last repeated up to the next power of two (Hibernate's "in-clause
    parameter padding").

    Each length of an ``IN (...)`` list is a statement of its own, which every pooled
    connection prepares and keeps (asyncpg caches 100 per connection): batches of 1 to 100
    keys would fill 20 connections with up to 2,000 statements, tens of MiB of the API's
    memory, where powers of two make 8 lengths. A repeated key changes no result.
    """
    size = len(keys)
    if size < 3:
        return keys
    return keys + [keys[-1]] * ((1 << (size - 1).bit_length()) - size)


_NAMED = re.compile(r":([a-z_][a-z0-9_]*)")


def bind(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """Named ``:params`` to asyncpg's ``$n``, floats typed."""
    values: list[Any] = []
    numbers: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = params[name]
        if name not in numbers:
            values.append(value)
            numbers[name] = len(values)
        cast = "::float8" if isinstance(value, float) else ""
        return f"${numbers[name]}{cast}"

    return _NAMED.sub(replace, sql), values


async def rows(sql: str, **params: Any) -> list[Any]:
    """The rows of a hand-written statement with ``:named`` parameters (each row reads by
    column name)."""
    conn = connections.get("default")
    text, values = bind(sql, params)
    _, found = await conn.execute_query(text, values)
    return list(found)


_BY_ID: dict[type[Model], str] = {}


async def by_id(model: type[M], pk: Any) -> M | None:
    """``model.get_or_none(pk=pk)`` without tortoise building a query each time: its text is
    made once per model, and the row becomes the model the way tortoise's own executor makes
    it (``Model._init_from_db``). For the loads made once per live event (the object of each
    event, for every cohort woken): 120 µs of CPU instead of 300 per load, measured in one
    process on 2026-12-04, and the fan-out's CPU per delivery follows it."""
    sql = _BY_ID.get(model)
    if sql is None:
        meta = model._meta
        columns = ", ".join(f'"{c}"' for c in meta.fields_db_projection.values())
        sql = _BY_ID[model] = (
            f'SELECT {columns} FROM "{meta.db_table}" WHERE "{meta.db_pk_column}" = $1'
        )
    _, found = await connections.get("default").execute_query(sql, [pk])
    return model._init_from_db(**found[0]) if found else None
