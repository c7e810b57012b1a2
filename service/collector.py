"""When the API process runs full garbage collections.

CPython starts a full collection whenever the objects promoted to its oldest generation since
the last one outnumber a quarter of that generation. Under load, the objects of the requests
in flight live through the young collections and are promoted, then die moments later by
reference counting: promotions alone started a full collection every second, and each walked
every live object, 85-150 ms with 16 dashboards in flight. Those pauses set the dashboard's
p99 (``bench reads``: 108-214 ms) and delay every delivery of a fan-out they fall into.

Operations leave no reference cycles (``tests/test_garbage.py``), so a full collection has
little to find. The API turns the automatic ones off and runs one itself, from the event loop:

- every ``gc_full_every_seconds``, so whatever cycles remain are freed in bounded time;
- sooner when the resident memory grew by ``gc_full_after_growth_mib`` since the last one, so
  code that makes cycles quickly cannot grow the process unchecked.

Young collections stay automatic. What is loaded at start-up (modules, the schema, the pools)
is frozen out of the collector's reach first: it lives as long as the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time

from prometheus_client import Histogram

from presta.settings import settings

FULL_PAUSES = Histogram(
    "presta_gc_full_pause_seconds",
    "Full garbage collections run by the API process, and how long each paused it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
# A threshold the count of young collections never reaches: no automatic full collection.
_NEVER = 2**31 - 1
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """The process's resident memory, where /proc tells it (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


class FullCollections:
    """Runs the process's full collections while started (see the module)."""

    def __init__(self, every: float, growth_bytes: int, check_every: float = 1.0) -> None:
        self.every = every
        self.growth_bytes = growth_bytes
        self.check_every = min(check_every, every) if every > 0 else check_every
        self._task: asyncio.Task[None] | None = None
        self._thresholds: tuple[int, int, int] | None = None

    @classmethod
    def from_settings(cls) -> FullCollections:
        cfg = settings()
        return cls(cfg.gc_full_every_seconds, cfg.gc_full_after_growth_mib * 1024 * 1024)

    def start(self) -> None:
        gc.collect()
        gc.freeze()
        if self.every <= 0:
            return  # CPython's own rule
        young, middle, _ = self._thresholds = gc.get_threshold()
        gc.set_threshold(young, middle, _NEVER)
        self._task = asyncio.create_task(self._run(), name="full garbage collections")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        gc.unfreeze()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last, base = loop.time(), resident_bytes()
        while True:
            await asyncio.sleep(self.check_every)
            now, size = loop.time(), resident_bytes()
            grown = size is not None and base is not None and size - base >= self.growth_bytes
            if now - last >= self.every or grown:
                collect()
                last, base = loop.time(), resident_bytes()


def collect() -> int:
    """One full collection, timed; returns what it freed."""
    started = time.perf_counter()
    freed = gc.collect()
    FULL_PAUSES.observe(time.perf_counter() - started)
    return freed
