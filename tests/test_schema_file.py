"""The committed schema.graphql and migrations match the code."""

from __future__ import annotations

from pathlib import Path

from schema.root import schema

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_schema_matches_the_code():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", (
        "schema.graphql is stale: run `make schema` and commit it"
    )


async def test_the_committed_migrations_match_the_models():
    from tortoise import Tortoise
    from tortoise.migrations.autodetector import MigrationAutodetector

    from presta.db import tortoise_config

    apps_config = tortoise_config()["apps"]
    detector = MigrationAutodetector(Tortoise.apps, apps_config)
    writers = await detector.changes()
    assert writers == [], "models changed without a migration: run `make migrations`"


def test_the_migrations_apply_on_the_embedded_sqlite_default(tmp_path):
    """`make run` migrates a SQLite file: the same migrations must work there."""
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "PRESTA_DATABASE_URL": f"sqlite://{tmp_path}/embedded.sqlite3",
        "PRESTA_ENVIRONMENT": "test",
    }
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "embedded.sqlite3").stat().st_size > 0
