"""Server subprocesses of the tests and benchmarks: a free port to give one, and stopping it."""

from __future__ import annotations

import socket
import subprocess
from typing import Any


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen[Any]) -> None:
    """Terminate, wait up to 10 s, then kill."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
