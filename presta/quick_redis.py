"""Redis on the request path: a client that fails fast rather than hold a request, and a log
of its outages that says so at most every ten seconds (a down Redis must not flood the log)."""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

# What a Redis that is down, slow or unreachable raises through this client.
FAILURES: tuple[type[BaseException], ...] = (TimeoutError, RedisError, OSError)


def quick_client(url: str) -> Redis:
    """No hidden retries and short timeouts: a slow Redis must not hold requests."""
    return Redis.from_url(
        url,
        socket_connect_timeout=0.25,
        socket_timeout=0.25,
        retry=Retry(NoBackoff(), 0),
    )


class OutageLog:
    """Logs ``message`` with the error, once per ``every`` seconds at most."""

    def __init__(self, log: logging.Logger, message: str, *, every: float = 10.0) -> None:
        self._log = log
        self._message = message
        self._every = every
        self._last = float("-inf")

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._log.warning("%s: %r", self._message, exc)
