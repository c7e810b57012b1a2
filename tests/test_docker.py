"""docker/ cannot run here (no Docker engine): check it statically against the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from presta.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
APP_SERVICES = {"migrate": "migrate", "api": "serve", "worker": "worker", "scheduler": "scheduler"}


def _compose() -> Any:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _interpolate(value: str) -> str:
    """Compose's ${VAR:-default} and ${VAR:?error}, as if the operator set only the secret."""

    def one(match: re.Match[str]) -> str:
        name, kind, default = match.group(1), match.group(2), match.group(3) or ""
        if kind == "?":
            assert name == "PRESTA_SECRET_KEY", f"{name} is required without a default"
            return "s" * 48
        return default

    return re.sub(r"\$\{(\w+)(?::?([-?])([^}]*))?\}", one, value)


def test_compose_has_the_servers_a_one_shot_migration_and_the_three_roles():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", *APP_SERVICES}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_every_presta_service_runs_our_image_built_from_the_dockerfile():
    services = _compose()["services"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        build = services[name]["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == (
            DOCKER / "Dockerfile"
        )


def test_each_service_runs_the_presta_command_of_its_role():
    services = _compose()["services"]
    for name, subcommand in APP_SERVICES.items():
        command = services[name]["command"]
        assert command[:2] == ["presta", subcommand], name


@pytest.mark.parametrize("service", list(APP_SERVICES))
def test_the_commands_and_options_exist_in_the_cli(service):
    command = _compose()["services"][service]["command"]
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *command[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_api_scales_without_fixed_host_ports():
    api = _compose()["services"]["api"]
    # "8000" alone publishes on an ephemeral host port, so replicas never collide.
    assert all(":" not in str(port) for port in api.get("ports", []))
    assert api["deploy"]["replicas"] >= 2


def test_every_presta_variable_is_a_setting_and_the_set_passes_production_checks(monkeypatch):
    services = _compose()["services"]
    fields = set(Settings.model_fields)
    environments = [services[name]["environment"] for name in APP_SERVICES]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    for variable in env:
        assert variable.startswith("PRESTA_"), variable
        assert variable.removeprefix("PRESTA_").lower() in fields, f"{variable} is not a setting"

    for variable in list(os.environ):
        if variable.startswith("PRESTA_"):
            monkeypatch.delenv(variable)
    for variable, value in env.items():
        monkeypatch.setenv(variable, _interpolate(str(value)))
    cfg = Settings()
    assert cfg.environment == "production"
    assert cfg.database_url.startswith("postgres")
    assert cfg.jobs_backend == "dramatiq"
    assert cfg.broadcast_url.startswith("redis://")
    assert cfg.allowed_origins


def test_the_dockerfile_is_multi_stage_and_runs_as_a_non_root_user():
    text = (DOCKER / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2
    final = text.split("FROM ")[-1]
    assert re.search(r"^COPY --from=" + stages[0], final, flags=re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
    assert users, "the final stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^CMD \["presta", "serve"\]', final, flags=re.MULTILINE)
