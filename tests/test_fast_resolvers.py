"""Coroutine resolvers run eagerly: a value at hand comes back at once, a wait resumes as a
normal await would (results, errors, cancellation, two waiters on one future)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schema.fast import _eagerly


async def _ready(value: Any) -> Any:
    return value


async def _waits(future: asyncio.Future[Any], then: Any = None) -> Any:
    result = await future
    if isinstance(then, Exception):
        raise then
    return result if then is None else then


async def test_a_resolver_with_nothing_to_wait_for_returns_its_value() -> None:
    assert _eagerly(_ready)(42) == 42


async def test_a_resolver_that_waits_resumes_when_awaited() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    pending = _eagerly(_waits)(future)
    assert not isinstance(pending, int)
    asyncio.get_running_loop().call_soon(future.set_result, 7)
    assert await pending == 7


async def test_two_resolvers_waiting_for_one_future_both_get_it() -> None:
    # Two rows naming the same service share the loader's future.
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    first, second = _eagerly(_waits)(future), _eagerly(_waits)(future)
    asyncio.get_running_loop().call_soon(future.set_result, "cleaning")
    assert list(await asyncio.gather(first, second)) == ["cleaning", "cleaning"]


async def test_an_error_after_the_wait_reaches_the_awaiting_task() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    pending = _eagerly(_waits)(future, ValueError("no such row"))
    future.set_result(1)
    with pytest.raises(ValueError, match="no such row"):
        await pending


async def test_cancelling_the_awaiting_task_cancels_the_resolver() -> None:
    cleaned: list[bool] = []

    async def resolver(future: asyncio.Future[None]) -> None:
        try:
            await future
        finally:
            cleaned.append(True)

    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    pending = _eagerly(resolver)(future)

    async def awaiting() -> None:
        await pending

    task = asyncio.create_task(awaiting())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]
