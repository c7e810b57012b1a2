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
