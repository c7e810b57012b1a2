"""Several API processes on one port, each listening on a socket of its own (SO_REUSEPORT).

uvicorn's ``--workers`` gives every worker the same listening socket. The worker whose event
loop wakes first accepts every connection waiting (asyncio accepts up to the backlog at
once), so a burst of keep-alive connections - a proxy's upstream pool, a load generator -
lands on one process while the others idle: 16 connections opened together went 16 to one
worker and none to the other in 3 trials of 5 (bench/RESULTS.md). Here each worker has its
own socket bound to the port with SO_REUSEPORT, and the kernel spreads new connections over
the sockets by their addresses, as nginx's ``reuseport`` and gunicorn's ``--reuse-port`` do.

The parent only supervises: it starts the workers, starts again one that dies (on its own
socket, so no socket is left without a worker), and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from typing import Any

import uvicorn

log = logging.getLogger("presta")

# uvicorn's exit code for a worker that could not start (the app or its settings are broken):
# starting it again would fail the same way.
STARTUP_FAILURE = 3
STOP_SECONDS = 30.0


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


def _worker(config: uvicorn.Config, sock: socket.socket) -> None:
    from presta import logs
    from presta.settings import settings

    cfg = settings()
    logs.configure(cfg.log_level, json=cfg.log_json)  # as ``presta serve`` in one process
    config.configure_logging()
    uvicorn.Server(config).run(sockets=[sock])


def serve(config: uvicorn.Config, workers: int) -> None:
    """Run ``workers`` processes of ``config``'s app until SIGINT or SIGTERM."""
    sockets = [listening_socket(config.host, config.port, config.backlog) for _ in range(workers)]
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    processes: list[Any] = [None] * workers
    failed = False
    log.info("serving on %s:%d with %d processes", config.host, config.port, workers)
    try:
        while not stop.is_set():
            for slot, process in enumerate(processes):
                if process is not None and process.is_alive():
                    continue
                if process is not None:
                    log.error("worker %d exited with code %s", process.pid, process.exitcode)
                    if process.exitcode == STARTUP_FAILURE:
                        failed = True
                        stop.set()
                        break
                process = spawn.Process(target=_worker, args=(config, sockets[slot]))
                process.start()
                processes[slot] = process
            stop.wait(0.5)
    finally:
        _stop(p for p in processes if p is not None)
        for sock in sockets:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise SystemExit(STARTUP_FAILURE)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop(processes: Any) -> None:
    running = [p for p in processes if p.is_alive()]
    for process in running:
        process.terminate()  # uvicorn finishes the requests in flight, then exits
    for process in running:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
