"""Several API processes on one port, each listening on a socket of its own (SO_REUSEPORT).

uvicorn's ``--workers`` gives every worker the same listening socket. The worker whose event
loop wakes first accepts every connection waiting (asyncio accepts up to the backlog at
once), so a burst of keep-alive connections - a proxy's upstream pool, a load generator -
lands on one process while the others idle: 16 connections opened together went 16 to one
worker and none to the other in 3 trials of 5 (bench/RESULTS.md). Here each worker has its
own socket bound to the port with SO_REUSEPORT, and the kernel spreads new connections over
the sockets by their addresses, as nginx's ``reuseport`` and gunicorn's ``--reuse-port`` do.

The parent only supervises: it starts the workers, starts again one that dies (on its own
socket, so no socket is left without a worker), replaces them one by one on SIGHUP (each new
worker serves before the old one stops: no connection is refused), and stops them all on
SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

log = logging.getLogger("presta")

# uvicorn's exit code for a worker that could not start (the app or its settings are broken):
# starting it again would fail the same way.
STARTUP_FAILURE = 3
STOP_SECONDS = 30.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
READY_SECONDS = 60.0


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A socket listening on host:port that other processes may listen on too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _run_worker(config: uvicorn.Config, sock: socket.socket, ready: Any) -> None:
    from presta import logs
    from presta.settings import settings

    cfg = settings()
    logs.configure(cfg.log_level, json=cfg.logs_as_json)  # as ``presta serve`` in one process
    config.configure_logging()
    server = uvicorn.Server(config)
    threading.Thread(target=_tell_when_serving, args=(server, ready), daemon=True).start()
    server.run(sockets=[sock])


def _tell_when_serving(server: uvicorn.Server, ready: Any) -> None:
    while not server.started:
        time.sleep(0.05)
    ready.set()


@dataclass
class _Worker:
    process: Any
    ready: Any

    @classmethod
    def start(cls, spawn: Any, config: uvicorn.Config, sock: socket.socket) -> _Worker:
        ready = spawn.Event()
        process = spawn.Process(target=_run_worker, args=(config, sock, ready))
        process.start()
        return cls(process, ready)

    def serving_within(self, seconds: float, stop: threading.Event) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not stop.is_set() and self.process.is_alive():
            if self.ready.wait(0.1):
                return True
        return False


def serve(config: uvicorn.Config, workers: int) -> None:
    """Run ``workers`` processes of ``config``'s app until SIGINT or SIGTERM."""
    sockets = [listening_socket(config.host, config.port, config.backlog) for _ in range(workers)]
    spawn = multiprocessing.get_context("spawn")
    stop, restart = threading.Event(), threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: restart.set())
    slots: list[_Worker | None] = [None] * workers
    failed = False
    log.info("serving on %s:%d with %d processes", config.host, config.port, workers)
    try:
        while not stop.is_set() and not failed:
            for slot, worker in enumerate(slots):
                if worker is not None and worker.process.is_alive():
                    continue
                if worker is not None:
                    code = worker.process.exitcode
                    log.error("worker %d exited with code %s", worker.process.pid, code)
                    if code == STARTUP_FAILURE:
                        failed = True
                        break
                slots[slot] = _Worker.start(spawn, config, sockets[slot])
            if restart.is_set() and not failed:
                restart.clear()
                _replace_each(slots, spawn, config, sockets, stop)
            stop.wait(0.5)
    finally:
        _stop(w.process for w in slots if w is not None)
        for sock in sockets:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise SystemExit(STARTUP_FAILURE)


def _replace_each(
    slots: list[_Worker | None],
    spawn: Any,
    config: uvicorn.Config,
    sockets: list[socket.socket],
    stop: threading.Event,
) -> None:
    """SIGHUP: a new worker per slot, on the slot's socket; the old one stops once the new one
    serves (both accept meanwhile). A new worker that does not serve in time is dropped and
    the old one kept."""
    log.info("replacing the workers")
    for slot, old in enumerate(slots):
        new = _Worker.start(spawn, config, sockets[slot])
        if not new.serving_within(READY_SECONDS, stop):
            log.error("new worker %d did not serve: worker %s kept", new.process.pid,
                      old.process.pid if old else None)  # fmt: skip
            _stop([new.process])
            return
        if old is not None:
            _stop([old.process])
        slots[slot] = new


def _stop(processes: Any) -> None:
    running = [p for p in processes if p.is_alive()]
    for process in running:
        process.terminate()  # uvicorn finishes the requests in flight, then exits
    for process in running:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
