"""Production never starts on development defaults; the refusal says what to set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from presta.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
GOOD_SECRET = "k" * 40
PG = "postgres://presta@db:5432/presta"


def _production(**values: object) -> Settings:
    defaults: dict[str, object] = {
        "environment": "production",
        "secret_key": GOOD_SECRET,
        "database_url": PG,
        "redis_url": "redis://redis:6379/0",
    }
    return Settings(**{**defaults, **values})  # type: ignore[arg-type]


def test_production_without_a_secret_key_is_refused_with_a_clear_message():
    with pytest.raises(SettingsError, match="PRESTA_SECRET_KEY"):
        _production(secret_key="")


def test_production_with_a_short_secret_key_is_refused():
    with pytest.raises(SettingsError, match="at least 32"):
        _production(secret_key="too-short-secret")


def test_production_without_a_database_url_is_refused():
    """Unset means the embedded PostgreSQL: a development convenience only."""
    with pytest.raises(SettingsError, match="PRESTA_DATABASE_URL on PostgreSQL"):
        _production(database_url="")


def test_a_database_url_other_than_postgresql_is_refused_in_every_environment():
    for environment in ("development", "test"):
        with pytest.raises(SettingsError, match="postgres://"):
            Settings(environment=environment, database_url="mysql://presta@db/presta")


def test_the_default_database_is_the_embedded_postgresql_under_var():
    fields = Settings.model_fields
    assert fields["database_url"].default == ""
    assert fields["embedded_dir"].default == Path("var/postgres")


def test_production_without_redis_is_refused():
    with pytest.raises(SettingsError, match="PRESTA_REDIS_URL"):
        _production(redis_url="")


def test_production_with_real_values_starts_and_keeps_them():
    cfg = _production()
    assert cfg.secret_key == GOOD_SECRET
    assert cfg.database_url == PG


def test_development_gets_a_dev_secret_but_production_never_does():
    assert Settings(environment="development", secret_key="").secret_key
    with pytest.raises(SettingsError):
        _production(secret_key="")


def test_the_cli_refuses_production_without_a_secret_and_says_why():
    env = {
        "PATH": "/usr/bin:/bin",
        "PRESTA_ENVIRONMENT": "production",
        "PRESTA_DATABASE_URL": PG,
        "PRESTA_REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode != 0
    assert "PRESTA_SECRET_KEY" in done.stderr
    assert "Traceback" not in done.stderr
