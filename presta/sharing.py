"""Results computed once for every caller that asks for the same key at about the same time.

The subscribers woken by one live event each ask for the same access check or snapshot;
the first computes it, the others wait for its result. A result is reused only for a short
while, so a caller asking later (a replay from a cursor) computes it again against the
database.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, ClassVar, Generic, TypeVar
from weakref import WeakSet

T = TypeVar("T")


class Shared(Generic[T]):
    _every: ClassVar[WeakSet[Shared[Any]]] = WeakSet()

    def __init__(self, seconds: float, kept: int) -> None:
        self.seconds = seconds
        self.kept = kept
        Shared._every.add(self)
        # In time order, so stale results are dropped from the front: memory follows the
        # calls of the last ``seconds``, bounded by ``kept``.
        self._entries: OrderedDict[Hashable, tuple[float, asyncio.Future[T]]] = OrderedDict()

    @classmethod
    def forget_all(cls) -> None:
        """Drop every shared result (tests: a database emptied with its ids restarted would
        meet results computed for the same ids a moment before)."""
        for shared in list(cls._every):
            shared._entries.clear()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """``compute()``'s result, shared with every caller of the same key within the
        window; a waiter whose computing caller went away computes it itself."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] <= self.seconds and entry[1].get_loop() is loop:
            if entry[1].done() and not entry[1].cancelled():
                return entry[1].result()  # ready (prepared): no turn of the loop
            try:
                return await _result_of(entry[1])
            except asyncio.CancelledError:
                if not entry[1].cancelled():
                    raise
        future: asyncio.Future[T] = loop.create_future()
        self._entries.pop(key, None)
        self._entries[key] = (now, future)
        while self._entries and (
            len(self._entries) > self.kept
            or now - next(iter(self._entries.values()))[0] > self.seconds
        ):
            self._entries.popitem(last=False)
        try:
            result = await compute()
        except asyncio.CancelledError:
            self._forget(key, future)
            future.cancel()
            raise
        except Exception as exc:
            self._forget(key, future)
            future.set_exception(exc)
            future.exception()  # marked retrieved: only the waiters, if any, re-raise it
            raise
        future.set_result(result)
        return result

    def _forget(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] is future:
            del self._entries[key]


async def _result_of(future: asyncio.Future[T]) -> T:
    """The future's result; a waiter that is cancelled leaves the future alone, as with
    ``asyncio.shield``, which costs more per waiter (~10% of a delivery with 100 waiters)."""
    waiter = future.get_loop().create_future()

    def wake(_: object) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    try:
        await waiter
    finally:
        if not future.done():
            future.remove_done_callback(wake)
    return future.result()
