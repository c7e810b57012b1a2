"""Waiting for what happens after commit: jobs, published events, other processes."""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_for(predicate: Any, within: float = 5.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy (for effects that happen after commit)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
