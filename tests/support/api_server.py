"""``presta serve`` in a subprocess: ``ApiServer`` inherits this run's database and settings;
``presta_serve`` starts from a clean environment and logs to a file."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.factories.account import PASSWORD
from tests.support.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[2]


def valid_email() -> str:
    """A new address that passes the real e-mail validation, for a user who logs in over HTTP."""
    return f"live-{uuid.uuid4().hex[:10]}@example.com"


class ApiServer:
    """``presta serve`` in a subprocess on the test database and the given Redis."""

    def __init__(self, bus: str, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "PRESTA_BROADCAST_URL": bus,
            "PRESTA_REDIS_URL": bus if bus.startswith("redis") else "",
            "PRESTA_LOG_LEVEL": "WARNING",
            "PRESTA_PORT": str(self.port),
            # Several suites share the machine's PostgreSQL (100 connections).
            "PRESTA_DB_POOL_MAX": "5",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self) -> ApiServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self
            assert self.proc.poll() is None, "the API server exited"
            time.sleep(0.1)
        raise AssertionError("the API server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def rss_kib(self) -> int:
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1])

    async def token(self, email: str) -> str:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                self.http,
                json={
                    "query": "mutation($e: String!, $p: String!) { logIn(input: {email: $e, "
                    "password: $p}) { accessToken userErrors { code } } }",
                    "variables": {"e": email, "p": PASSWORD},
                },
            )
        token = response.json()["data"]["logIn"]["accessToken"]
        assert token, response.json()
        return str(token)


@dataclass
class Server:
    """One ``presta_serve``: its base URL, process and log file."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://") + "/graphql"


def clean_env(**presta: str) -> dict[str, str]:
    """This process's environment minus its PRESTA_ settings, plus test defaults and ``presta``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PRESTA_")}
    defaults = {
        "PRESTA_ENVIRONMENT": "test",
        "PRESTA_LOG_FORMAT": "text",
        "PRESTA_LOG_LEVEL": "WARNING",
        "PRESTA_MAIL_ENABLED": "false",
    }
    return {**base, **defaults, **presta}


@contextlib.contextmanager
def presta_serve(
    env: dict[str, str], log_dir: Path, name: str, *options: str, ready_within: float = 30
) -> Iterator[Server]:
    """``presta serve`` in ``env`` with ``options``, logging to ``log_dir/name.log``; yielded
    once ready."""
    port = free_port()
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port), *options],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + ready_within
        while True:
            assert process.poll() is None, f"{name} exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{name} did not answer in {ready_within} s"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.base}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield server
    finally:
        stop(process)
