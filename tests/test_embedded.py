"""The private servers of service.embedded: `make run`'s PostgreSQL, and the test run's when the
machine has none. A cluster is created once and kept; a server left by a dead process is used,
a killed one restarted; they listen only on a unix socket or loopback; nothing is left running
after the last stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from service.embedded import Postgres
from tests.support import servers
from tests.support.processes import free_port, stop
from tests.support.servers import Redis

ROOT = Path(__file__).resolve().parents[1]


def _listening(process: psutil.Process) -> set[str]:
    """The addresses a process accepts TCP connections on."""
    return {
        conn.laddr.ip
        for conn in process.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }


def _postmaster(cluster: Postgres) -> psutil.Process:
    """The process that listens (backends come and go, and close the listening sockets)."""
    return psutil.Process(int((cluster.data / "postmaster.pid").read_text().split()[0]))


def test_a_fresh_directory_is_initialised_once_and_its_data_kept_across_starts(server_dir):
    first = Postgres(server_dir / "pg")
    first.start()
    try:
        assert first.initialised
        first.psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
    finally:
        first.stop()
    assert not first.processes()

    second = Postgres(server_dir / "pg")
    second.start()
    try:
        assert not second.initialised
        assert not second.adopted
        assert second.psql("SELECT n FROM kept").split() == ["42"]
    finally:
        second.stop()
    assert not second.processes()


def test_a_server_left_by_a_dead_process_is_used_and_then_stopped(server_dir):
    directory = server_dir / "pg"
    code = (
        "import sys; from pathlib import Path; from service.embedded import Postgres; "
        "s = Postgres(Path(sys.argv[1])); s.start(); "
        "s.psql('CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)'); "
        "print('up', flush=True); import time; time.sleep(60)"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code, str(directory)], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline() == b"up\n"
        heir = Postgres(directory)
        heir.start()  # shared with a live process
        assert heir.adopted
        heir.stop()
        assert heir.running(), "stopped under a process still using it"

        owner.send_signal(signal.SIGKILL)  # dies without stopping it
        owner.wait(timeout=10)
        assert heir.running()
        heir.start()
        assert heir.adopted
        assert heir.psql("SELECT n FROM kept").split() == ["7"]
    finally:
        stop(owner)
        Postgres(directory).stop()
    assert not heir.processes(), "the dead process's registration kept it running"


def test_a_killed_postmaster_is_restarted_by_the_next_start(server_dir):
    cluster = Postgres(server_dir / "pg")
    cluster.start()
    try:
        cluster.psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
        postmaster = _postmaster(cluster)
        postmaster.send_signal(signal.SIGKILL)
        postmaster.wait(timeout=10)
        assert not cluster.running()
        # A stale pid file and socket lock remain, maybe backends for a moment.
        assert (cluster.data / "postmaster.pid").exists()

        again = Postgres(server_dir / "pg")
        again.start()
        try:
            assert not again.adopted
            assert again.psql("SELECT n FROM kept").split() == ["1"]
        finally:
            again.stop()
    finally:
        cluster.stop()  # the last of this process's two registrations
    assert not cluster.processes()


def test_postgresql_listens_only_on_its_own_unix_socket_or_loopback(server_dir):
    private = Postgres(server_dir / "socket")
    private.start()
    try:
        settings = private.psql(
            "SELECT current_setting('listen_addresses'), "
            "current_setting('unix_socket_directories'), "
            "current_setting('unix_socket_permissions')"
        )
        assert settings.strip().split("|") == ["", str(private.directory), "0700"]
        postmaster = _postmaster(private)
        assert _listening(postmaster) == set()
        sockets = {str(conn.laddr) for conn in postmaster.net_connections(kind="unix")}
        assert str(private.directory / ".s.PGSQL.5432") in sockets
    finally:
        private.stop()

    port = free_port()
    loopback = Postgres(server_dir / "tcp", port=port)
    loopback.start()
    try:
        assert loopback.psql("SHOW listen_addresses").strip() == "127.0.0.1"
        assert _listening(_postmaster(loopback)) == {"127.0.0.1"}
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        loopback.stop()
    assert not private.processes()
    assert not loopback.processes()


def test_redis_listens_only_on_its_unix_socket_or_loopback_and_stops(server_dir):
    private = Redis(server_dir / "socket")
    private.start()
    pid = private.process.pid if private.process else 0
    try:
        client = redis.Redis.from_url(private.url)
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        assert client.config_get("port") == {"port": "0"}
        assert client.config_get("save") == {"save": ""}
        assert _listening(psutil.Process(pid)) == set()
        client.close()
    finally:
        private.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    loopback = Redis(server_dir / "tcp", port=free_port())
    loopback.start()
    try:
        assert loopback.process is not None
        assert _listening(psutil.Process(loopback.process.pid)) == {"127.0.0.1"}
    finally:
        loopback.stop()


def test_the_servers_of_a_killed_test_run_are_stopped_by_the_next(server_dir):
    dead = Path(tempfile.gettempdir()) / f"{servers._PREFIX}dead-{os.getpid()}"
    left = Redis(dead / "redis")
    left.start()
    left.process = None  # as if its owner had been killed: only the pid file knows it
    (dead / "owner").write_text("1 0.0")  # pid 1 was not started at the epoch
    pid = int(left.pidfile.read_text())
    servers._private_root()
    assert not dead.exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "presta serve did not answer in 60 s"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        time.sleep(0.1)


@pytest.mark.e2e
def test_presta_serve_stops_its_database_on_ctrl_c_and_reuses_a_crashed_runs(tmp_path, server_dir):
    cluster = Postgres(server_dir / "postgres")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESTA_")}
    env |= {
        "PRESTA_ENVIRONMENT": "test",
        "PRESTA_EMBEDDED_DIR": str(cluster.directory),
        "PRESTA_LOG_JSON": "false",
        "PRESTA_MAIL_ENABLED": "false",
    }
    log, port = tmp_path / "serve.log", free_port()
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, "-m", "service.cli", "migrate"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=120,
        )  # fmt: skip
    assert not cluster.processes()

    first = _serve(env, port, log)
    assert cluster.running()
    first.send_signal(signal.SIGINT)
    first.wait(timeout=30)
    assert not cluster.processes(), "Ctrl-C left the database running"

    crashed = _serve(env, port, log)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=10)
    assert cluster.running(), "the database went down with the service"

    again = _serve(env, port, log)
    try:
        assert "embedded PostgreSQL running" in log.read_text()
    finally:
        stop(again)  # SIGTERM
    assert not cluster.processes()
    assert log.read_text().count("embedded PostgreSQL created") == 1
