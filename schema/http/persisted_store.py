"""Where automatically persisted documents are kept: Redis, shared by every API process, or an
in-process LRU in the embedded default (no Redis).

A document lives ``persisted_query_ttl_seconds`` after its last use. The store is a cache the
client can always refill (it re-sends the text on ``PersistedQueryNotFound``): when Redis fails,
a lookup finds nothing and a registration is dropped, logged and counted
(``presta_persisted_query_store_failures_total``), never an error of the request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Protocol

from presta.metrics import PERSISTED_QUERY_STORE_FAILURES
from presta.quick_redis import FAILURES, OutageLog, quick_client
from presta.settings import settings

log = logging.getLogger(__name__)


class Store(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, text: str) -> None: ...


class MemoryStore:
    """The documents of one process, the least recently used forgotten first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._texts: OrderedDict[str, str] = OrderedDict()

    async def get(self, key: str) -> str | None:
        text = self._texts.get(key)
        if text is not None:
            self._texts.move_to_end(key)
        return text

    async def put(self, key: str, text: str) -> None:
        self._texts[key] = text
        self._texts.move_to_end(key)
        while len(self._texts) > self._size:
            self._texts.popitem(last=False)


class RedisStore:
    """One key per document, ``<namespace>:apq:<sha256>``, its expiry renewed on each read."""

    def __init__(self, url: str, namespace: str) -> None:
        self._client = quick_client(url)
        self._prefix = f"{namespace}:apq:"
        self._outages = OutageLog(log, "persisted-query store unavailable, answering not found")

    async def get(self, key: str) -> str | None:
        try:
            found = await self._client.getex(
                self._prefix + key, ex=settings().persisted_query_ttl_seconds
            )
        except FAILURES as exc:
            self._failed(exc)
            return None
        return found.decode() if isinstance(found, bytes) else None

    async def put(self, key: str, text: str) -> None:
        try:
            await self._client.set(
                self._prefix + key, text.encode(), ex=settings().persisted_query_ttl_seconds
            )
        except FAILURES as exc:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        PERSISTED_QUERY_STORE_FAILURES.inc()
        self._outages.failed(exc)


_stores: dict[tuple[str, str, int], Store] = {}


def store() -> Store:
    """The process's store for the settings in force (Redis when configured)."""
    cfg = settings()
    # A Redis client belongs to one event loop (tests run several apps and loops).
    loop_id = id(asyncio.get_running_loop()) if cfg.redis_url else 0
    key = (cfg.redis_url, cfg.redis_namespace, loop_id)
    found = _stores.get(key)
    if found is None:
        found = _stores[key] = (
            RedisStore(cfg.redis_url, cfg.redis_namespace)
            if cfg.redis_url
            else MemoryStore(cfg.persisted_query_cache_size)
        )
    return found
