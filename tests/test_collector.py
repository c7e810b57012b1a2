"""The API's full garbage collections: none started by promotions under load, one at least
every interval, one sooner when memory grows, and CPython's rule back when the API stops."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from service.collector import FULL_PAUSES, FullCollections, resident_bytes
from tests.support.polling import wait_for


class _Cycle:
    """An object only the cyclic collector frees."""

    def __init__(self, payload: int = 0) -> None:
        self.me = self
        self.payload = bytearray(payload)


@contextmanager
def full_collections() -> Iterator[list[float]]:
    """The times of the full collections run inside the block, whoever started them."""
    seen: list[float] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(asyncio.get_running_loop().time())

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


def _promote_a_lot() -> None:
    """What requests in flight do: objects that live through young collections (and so are
    promoted) and then die by reference counting."""
    for _ in range(30):
        alive = [[n] for n in range(20_000)]
        gc.collect(1)
        del alive


async def test_promotions_alone_start_full_collections_without_it_and_none_with_it() -> None:
    with full_collections() as seen:
        _promote_a_lot()
    assert seen, "CPython's own rule runs full collections on this load"

    collections = FullCollections(every=3600, growth_bytes=1 << 40)
    collections.start()
    try:
        with full_collections() as seen:
            _promote_a_lot()
        assert seen == []
    finally:
        await collections.stop()


async def test_cycles_are_freed_at_the_interval() -> None:
    collections = FullCollections(every=0.3, growth_bytes=1 << 40, check_every=0.05)
    collections.start()
    try:
        paused = FULL_PAUSES._sum.get()
        held = _Cycle()
        gc.collect(1)  # promoted out of the young generations, as under load
        cycle = weakref.ref(held)
        del held
        gc.collect(1)
        assert cycle() is not None  # only a full collection frees it now
        with full_collections() as seen:
            await wait_for(lambda: cycle() is None, within=5)
        assert len(seen) == 1
        assert FULL_PAUSES._sum.get() > paused
    finally:
        await collections.stop()


async def test_memory_growing_starts_one_before_the_interval() -> None:
    assert resident_bytes() is not None  # Linux: the growth rule has a reading to go on
    collections = FullCollections(every=3600, growth_bytes=16 << 20, check_every=0.05)
    collections.start()
    try:
        with full_collections() as seen:
            await asyncio.sleep(0.2)
            assert seen == []
            # 32 MiB more resident that only cycles hold. Memory freed earlier in the process
            # is reused first without growing it, so allocate until it has grown (256 MiB at
            # most): the heap's shape left by other tests must not decide the outcome.
            before = resident_bytes() or 0
            cycles: list[_Cycle] = []
            while (resident_bytes() or 0) - before < 32 << 20 and len(cycles) < 65_536:
                cycles.extend(_Cycle(4096) for _ in range(1024))
            first = weakref.ref(cycles[0])
            gc.collect(1)
            del cycles
            await wait_for(lambda: first() is None, within=5)
        assert len(seen) == 1
    finally:
        await collections.stop()


async def test_stopping_gives_cpython_its_rule_back() -> None:
    before = gc.get_threshold()
    collections = FullCollections(every=60, growth_bytes=1 << 30)
    collections.start()
    assert gc.get_threshold()[2] > before[2]
    await collections.stop()
    assert gc.get_threshold() == before


async def test_zero_seconds_leaves_cpython_its_rule() -> None:
    before = gc.get_threshold()
    collections = FullCollections(every=0, growth_bytes=1 << 30)
    collections.start()
    try:
        assert gc.get_threshold() == before
    finally:
        await collections.stop()
