"""In-process subscriptions read by a task, and the changes that feed them."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from models.events import Event
from presta import events
from resolvers import account
from resolvers.actor import Actor
from schema.context import Context
from schema.http.live import decode_event_cursor, encode_event_cursor
from schema.root import schema
from tests.support.polling import wait_for

UPDATE_PROFILE = """
mutation($name: String!) { updateProfile(input: {fullName: $name}) { userErrors { code } } }"""
_VIEWER_UPDATED = """
subscription($after: String) {
  viewerUpdated(after: $after) { cursor user { id fullName } }
}"""


class Collector:
    """One in-process subscription, read by a task into ``cursors`` (event ids) and ``errors``."""

    def __init__(self, actor: Any, after: int | None = None, *, read: bool = True) -> None:
        self.actor = actor
        self.after = after
        self.ids: list[int] = []
        self.errors: list[dict[str, Any]] = []
        self.done = asyncio.Event()
        self.stream: Any = None
        self.task: asyncio.Task[None] | None = None
        self.read = read

    async def start(self) -> Collector:
        before = events.stats()["subscribers"]
        context = Context(request=None, response=None, actor=self.actor, request_id="test")  # type: ignore[arg-type]
        after = encode_event_cursor(self.after) if self.after is not None else None
        self.stream = await schema.subscribe(
            _VIEWER_UPDATED, variable_values={"after": after}, context_value=context
        )
        if self.read:
            self.task = asyncio.create_task(self._run())
        else:
            # Take one step so the subscription is attached, then stop reading.
            self.task = asyncio.create_task(self._take(1))
        await wait_for(lambda: events.stats()["subscribers"] > before or self.done.is_set())
        return self

    async def _take(self, count: int) -> None:
        async for result in self.stream:
            self._record(result)
            count -= 1
            if count <= 0 or result.errors:
                return
        self.done.set()

    async def _run(self) -> None:
        try:
            async for result in self.stream:
                self._record(result)
                if result.errors:
                    break
        finally:
            self.done.set()

    def _record(self, result: Any) -> None:
        if result.errors:
            self.errors.extend(e.formatted for e in result.errors)
            return
        cursor = result.data["viewerUpdated"]["cursor"]
        self.ids.append(decode_event_cursor(cursor))  # type: ignore[arg-type]

    async def resume_reading(self) -> None:
        self.task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.done.wait(), 10)

    @property
    def codes(self) -> list[str]:
        return [e["extensions"]["code"] for e in self.errors]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await self.task
        await self.stream.aclose()


async def logged_ids(user_id: int) -> list[int]:
    """The ids of the user-updated events recorded for ``user_id``, in order."""
    return [
        e.id
        async for e in Event.filter(object_id=user_id, topic=account.USER_UPDATED).order_by("id")
    ]


async def rename(actor: Any, count: int, prefix: str = "Name") -> None:
    """``count`` profile changes by ``actor``: one user-updated event each."""
    for n in range(count):
        await account.update_profile(actor, full_name=f"{prefix} {n}")


class Feed:
    """The payloads (under ``name``) of one in-process subscription, read by a task."""

    def __init__(self, name: str, results: Any) -> None:
        self.name = name
        self.items: list[dict[str, Any]] = []
        self.errors: list[Any] = []
        self.task = asyncio.create_task(self._run(results))

    async def _run(self, results: Any) -> None:
        async for result in results:
            if result.errors:
                self.errors.extend(result.errors)
                return
            self.items.append(result.data[self.name])

    async def wait(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + within
        while len(self.items) < count:
            if self.task.done() or asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"got {self.items} {self.errors}, wanted {count}")
            await asyncio.sleep(0.02)
        return self.items

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def open_feed(query: str, name: str, actor: Actor) -> Feed:
    """``actor`` subscribed to ``query``, attached to the broadcast by the time it returns."""
    context = Context(request=None, response=None, actor=actor, request_id="test")  # type: ignore[arg-type]
    feed = Feed(name, await schema.subscribe(query, context_value=context))
    await asyncio.sleep(0.2)  # attached to the broadcast
    return feed
