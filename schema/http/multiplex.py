"""Multiplexed subscriptions: one SQL statement per event for every subscriber of a document.

A subscription whose document compiles for its actor's kind (``resolvers.compiled.live``)
joins the group of that document, operation, variables and actor kind, whatever the actor:
the group listens to the field's topics once, and for each event runs one statement with a
row per subscriber the event is addressed to (its actor's ids as parameters, the access
check inside), then hands each subscriber the bytes of its row, wrapped in its own ``next``
envelope (``cohort.Member``: written at once when the socket is idle, else queued in order,
``SUBSCRIBER_TOO_SLOW`` alone for one that stops reading). No GraphQL execution, no
per-subscriber Python beyond computing its parameters.

What strawberry checks when a subscription starts (validation, the document limits, the
policy, the field's own refusals) still runs, once per subscribe: the operation is run
through strawberry with ``follow`` returning at once (``live.dry_run``); only a run that
yields nothing joins a group. Anything else, and a subscription resuming from a cursor (its
replay is its own), runs as a cohort (``schema.http.cohort``).

A group reads the event log again after a gap in live delivery (Redis reconnected, its
queue overflowed), as ``follow`` does, so a Redis outage loses nothing committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Hashable
from contextlib import aclosing
from typing import Any

from presta import events
from resolvers.compiled import Inputs
from resolvers.compiled.live import LivePlan, run_for_each
from resolvers.events import audience_keys, envelope, events_after, latest_event_id
from schema.context import Context
from schema.http import live
from schema.http.cohort import COMPLETE, Gathering, Member, Stream

log = logging.getLogger(__name__)

_REPLAY_BATCH = 500


@dataclasses.dataclass(slots=True)
class _Subscriber:
    inputs: Inputs
    keys: frozenset[str]
    since: int  # events up to this one were recorded before it subscribed


class Group(Gathering[_Subscriber]):
    """The subscriptions of one compiled document, operation, variables and actor kind."""

    __slots__ = ("by_key", "last_seen", "plan")

    def __init__(self, key: Hashable, plan: LivePlan) -> None:
        super().__init__(key, _groups)
        self.plan = plan
        self.last_seen = 0
        # Members by audience key, so an event visits only those it names (as the hub does).
        self.by_key: dict[str, dict[Member, None]] = {}

    def add(self, member: Member, subscriber: _Subscriber) -> None:
        self.members[member] = subscriber
        for key in subscriber.keys:
            self.by_key.setdefault(key, {})[member] = None

    def leave(self, member: Member) -> None:
        subscriber = self.members.get(member)
        for key in subscriber.keys if subscriber is not None else ():
            named = self.by_key.get(key)
            if named is not None:
                named.pop(member, None)
                if not named:
                    del self.by_key[key]
        super().leave(member)

    async def _run(self, started: asyncio.Future[None]) -> None:
        try:
            async with events.listen(topics=self.plan.topics, prepared=False) as feed:
                self.last_seen = await latest_event_id()
                started.set_result(None)
                while True:
                    message = await feed.__anext__()
                    if message is events.RESYNC:
                        await self._replay()
                        continue
                    assert isinstance(message, dict)
                    if message["id"] > self.last_seen:
                        self.last_seen = message["id"]
                        await self._deliver(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a multiplexed subscription failed")
        finally:
            if not started.done():
                started.set_result(None)
            self.forget()
            for member in list(self.members):
                member.end(COMPLETE)

    async def _replay(self) -> None:
        """The events missed by live delivery, from the log, in order."""
        marketplaces = {s.inputs.actor.marketplace_id for s in self.members.values()}
        missed: dict[int, dict[str, Any]] = {}
        for marketplace_id in marketplaces:
            after = self.last_seen
            while True:
                batch = await events_after(
                    after=after,
                    topics=list(self.plan.topics),
                    marketplace_id=marketplace_id,
                    limit=_REPLAY_BATCH,
                )
                for event in batch:
                    missed[event.id] = envelope(event)
                    after = event.id
                if len(batch) < _REPLAY_BATCH:
                    break
        for event_id in sorted(missed):
            self.last_seen = max(self.last_seen, event_id)
            await self._deliver(missed[event_id])

    async def _deliver(self, message: dict[str, Any]) -> None:
        audience = frozenset(message.get("audience") or ())
        of = message.get("marketplace_id")
        named: dict[Member, None] = {}  # the members under one of its keys, in order
        for key in audience:
            named.update(self.by_key.get(key, {}))
        chosen = [
            (member, subscriber)
            for member in named
            if message["id"] > (subscriber := self.members[member]).since
            and live.addressed_to(
                audience, of, subscriber.keys, subscriber.inputs.actor.marketplace_id
            )
        ]
        if not chosen:
            return
        rows = [
            self.plan.values(dataclasses.replace(subscriber.inputs, event=message))
            for _, subscriber in chosen
        ]
        texts = await run_for_each(self.plan, rows)
        for (member, _), text in zip(chosen, texts, strict=True):
            if text is not None and member in self.members:
                member.deliver(b'{"data":' + text.encode() + b"}")


_groups: dict[Hashable, Group] = {}


async def admits(stream: Stream, context: Context) -> bool:
    """Whether the subscription starts without a word from strawberry: validation, limits,
    policy and the field's refusals pass (its ``follow`` returns at once meanwhile)."""
    token = live.dry_run.set(True)
    try:
        source = await stream(dataclasses.replace(context, loaders={}, admitted=True))
        if not hasattr(source, "__aiter__"):
            return False
        async with aclosing(source):
            async for _ in source:
                return False
        return True
    finally:
        live.dry_run.reset(token)


async def join(key: Hashable, plan: LivePlan, member: Member, inputs: Inputs) -> None:
    """Add ``member`` (admitted) to the group of ``key``; events from now on reach it."""
    group = _groups.get(key)
    if group is None or group.task is None or group.task.done():
        group = _groups[key] = Group(key, plan)
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        group.task = asyncio.create_task(group._run(started))
        await started
    since = await latest_event_id()  # after the group listens: no event falls between
    member.cohort = group
    if group.task is None or group.task.done():
        # The group could not listen (logged): the member ends as a failed cohort's do.
        member.end(COMPLETE)
        return
    group.add(member, _Subscriber(inputs, frozenset(audience_keys(inputs.actor)), since))


def stats() -> dict[str, int]:
    """Groups and members in this process (tests and benchmarks read it)."""
    return {
        "groups": len(_groups),
        "members": sum(len(g.members) for g in _groups.values()),
    }
