"""Which real servers the suite runs against; the embedded default when they don't answer."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Servers:
    postgres_admin_url: str | None
    database_url: str
    redis_url: str | None
    required: bool

    @property
    def postgres(self) -> bool:
        return self.postgres_admin_url is not None


def detect() -> Servers:
    required = os.environ.get("PRESTA_TEST_REQUIRE_SERVERS") == "1"
    pg = os.environ.get("PRESTA_TEST_DATABASE_URL", DEFAULT_PG)
    redis = os.environ.get("PRESTA_TEST_REDIS_URL", DEFAULT_REDIS)
    pg_ok = _answers(pg, 5432)
    redis_ok = _answers(redis, 6379)
    if required and not (pg_ok and redis_ok):
        missing = [n for n, ok in (("PostgreSQL", pg_ok), ("Redis", redis_ok)) if not ok]
        sys.exit(f"PRESTA_TEST_REQUIRE_SERVERS=1 but {' and '.join(missing)} did not answer")
    if pg_ok:
        name = f"presta_test_{uuid.uuid4().hex[:10]}"
        parts = urlsplit(pg)
        database_url = parts._replace(path=f"/{name}").geturl()
    else:
        database_url = f"sqlite:///tmp/presta-test-{uuid.uuid4().hex[:8]}.sqlite3"
    return Servers(
        postgres_admin_url=pg if pg_ok else None,
        database_url=database_url,
        redis_url=redis if redis_ok else None,
        required=required,
    )
