"""Multiplexed subscriptions over real websockets: one statement per event for every subscriber
of a compiled document (``schema.http.multiplex``), each getting exactly what the standard
executor's cohorts give it, access checked per event, in order."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from strawberry import relay
from tortoise import connections

from models.membership import MembershipStatus
from presta import events
from presta.settings import settings
from resolvers.company import remove_colleague
from resolvers.compiled import live as compiled_live_module
from resolvers.events import event_cursor, latest_event_id
from schema.http import cohort, multiplex
from tests.factories.account import actor_of
from tests.factories.dispatch import Provider, World, make_world
from tests.factories.membership import make_provider_user
from tests.support.counting import counting
from tests.support.graphql import serving
from tests.support.polling import wait_for
from tests.support.websocket import Socket

Envelope = dict[str, Any]

DISPATCHED = """subscription Dispatched { serviceRequestDispatched {
  cursor
  serviceRequest { id status postalCode city wishedStart service { name } client { fullName }
                   myDispatch { status round } }
  dispatch { id status round providerId message price answerHistory { toStatus } }
  alias: dispatch { __typename status }
} }"""


@contextlib.contextmanager
def compiled_live(on: bool) -> Iterator[None]:
    before = settings().live_compiled
    settings().live_compiled = on
    try:
        yield
    finally:
        settings().live_compiled = before


async def _open(port: int, provider: Provider) -> Socket:
    user = SimpleNamespace(id=provider.actor.user_id)
    return (await Socket.open(port, user, DISPATCHED)).read()


@contextlib.asynccontextmanager
async def both_ways(providers: list[Provider]) -> AsyncIterator[tuple[list[Socket], list[Socket]]]:
    """For each provider, a socket multiplexed and a socket on the standard executor."""
    async with serving() as port:
        multiplexed = [await _open(port, p) for p in providers]
        await wait_for(lambda: multiplex.stats()["members"] == len(providers))
        with compiled_live(False):
            standard = [await _open(port, p) for p in providers]
            await wait_for(lambda: cohort.stats()["members"] == len(providers))
        try:
            yield multiplexed, standard
        finally:
            for s in [*multiplexed, *standard]:
                await s.close()


def _nexts(socket: Socket) -> list[Any]:
    return socket.nexts("serviceRequestDispatched")


async def test_every_subscriber_gets_from_one_statement_what_the_standard_executor_gives_it():
    world = await make_world(providers=3)
    await world.add_provider(postal_code="69001")  # not matched
    subscribers = world.providers
    async with both_ways(subscribers) as (multiplexed, standard):
        assert multiplex.stats() == {"groups": 1, "members": 4}

        await world.request()
        await wait_for(lambda: all(len(_nexts(s)) == 1 for s in [*multiplexed[:3], *standard[:3]]))
        await world.request(description="Windows too")
        await wait_for(lambda: all(len(_nexts(s)) == 2 for s in [*multiplexed[:3], *standard[:3]]))
        await asyncio.sleep(0.3)

        for fast, slow in zip(multiplexed, standard, strict=True):
            assert fast.messages() == slow.messages()  # the same JSON, envelope included
        mine = [_nexts(s)[0]["dispatch"]["providerId"] for s in multiplexed[:3]]
        assert len(set(mine)) == 3  # each provider its own dispatch
        assert _nexts(multiplexed[3]) == []  # not matched: nothing, as on the standard path
        assert _nexts(multiplexed[0])[0]["serviceRequest"]["client"] is None


async def test_a_provider_suspended_between_two_events_receives_nothing_more_on_either_path():
    world = await make_world(providers=2)
    async with both_ways(world.providers) as (multiplexed, standard):
        await world.request()
        await wait_for(lambda: all(len(_nexts(s)) == 1 for s in [*multiplexed, *standard]))

        suspended = world.providers[1].membership
        suspended.status = MembershipStatus.SUSPENDED
        await suspended.save()
        await world.request(description="Second one")
        await wait_for(lambda: len(_nexts(multiplexed[0])) == 2 and len(_nexts(standard[0])) == 2)
        await asyncio.sleep(0.3)

        assert len(_nexts(multiplexed[1])) == len(_nexts(standard[1])) == 1
        assert multiplexed[0].messages() == standard[0].messages()


async def _grouped(port: int, world: World) -> tuple[list[Socket], multiplex.Group, Envelope]:
    """A socket per provider of ``world``, all in one group, and a new request's dispatch event
    addressed to every one of them, to hand the group directly."""
    sockets = [await _open(port, p) for p in world.providers]
    await wait_for(lambda: multiplex.stats()["members"] == len(world.providers))
    group = next(iter(multiplex._groups.values()))
    message = {
        "id": group.last_seen + 10**6,
        "topic": "service_request.dispatched",
        "object_id": await world.request(),
        "marketplace_id": world.marketplace.id,
        "audience": [f"membership:{p.membership.id}" for p in world.providers],
    }
    return sockets, group, message


async def test_an_event_costs_one_statement_whatever_the_number_of_subscribers():
    world = await make_world(providers=6)
    async with serving() as port:
        sockets, group, message = await _grouped(port, world)
        await wait_for(lambda: all(len(_nexts(s)) == 1 for s in sockets))
        with counting() as statements:
            await group._deliver(message)
        assert len(statements) == 1
        await wait_for(lambda: all(len(_nexts(s)) == 2 for s in sockets))
        for s in sockets:
            await s.close()
        await wait_for(lambda: multiplex.stats() == {"groups": 0, "members": 0})


async def test_the_two_forms_of_an_event_statement_give_the_same_rows():
    """One array per parameter (the default), or a ``VALUES`` row per subscriber (plans with an
    array parameter): on the same subscribers and event, the same payloads in the same order."""
    world = await make_world(providers=3)
    await world.add_provider(postal_code="69001")  # not matched: a null row
    async with serving() as port:
        sockets, group, message = await _grouped(port, world)
        rows = [
            group.plan.values(dataclasses.replace(s.inputs, event=message))
            for s in group.members.values()
        ]
        found = []
        for form in (compiled_live_module._as_arrays, compiled_live_module._as_values):
            sql, values = form(group.plan, rows)
            _, records = await connections.get("default").execute_query(sql, values)
            found.append([r[1] for r in records])
        assert found[0] == found[1]
        assert [text is not None for text in found[0]] == [True, True, True, False]

        # The payload is computed once per subscriber: the document reads dispatch twice
        # (``myDispatch``, ``dispatch``), and unfenced the planner inlines the payload into both
        # places that read it (is it null, then wrap it), which made four.
        sql, values = compiled_live_module._as_arrays(group.plan, rows)
        _, plan = await connections.get("default").execute_query(f"EXPLAIN {sql}", values)
        scans = [r["QUERY PLAN"] for r in plan if " on dispatch " in r["QUERY PLAN"]]
        assert len(scans) == 2, scans
        for s in sockets:
            await s.close()


async def test_a_dispatch_whose_envelope_comes_after_the_next_one_still_reaches_every_provider(
    monkeypatch,
):
    """Two API processes each publish after their own commit: the second request's envelopes
    can reach Redis first (2 of 5 runs of ``bench load`` with two processes lost a request's
    20 deliveries so). Both requests reach every subscriber, in the order they committed."""
    world = await make_world(providers=2)
    async with both_ways(world.providers) as (multiplexed, standard):
        published = events.publish
        held: list[dict[str, Any]] = []

        async def later(*envelopes: dict[str, Any]) -> None:
            held.extend(envelopes)

        monkeypatch.setattr(events, "publish", later)
        first = await world.request()
        second = await world.request(description="Windows too")
        monkeypatch.setattr(events, "publish", published)
        assert len({e["id"] for e in held}) == len(held) > 1
        await events.publish(*sorted(held, key=lambda e: -e["id"]))

        sockets = [*multiplexed, *standard]
        await wait_for(lambda: all(len(_nexts(s)) == 2 for s in sockets))
        await asyncio.sleep(0.3)
        for s in sockets:
            ids = [relay.GlobalID.from_id(n["serviceRequest"]["id"]).node_id for n in _nexts(s)]
            assert ids == [str(first), str(second)]


@pytest.mark.parametrize("resuming", [True, False])
async def test_a_resuming_subscriber_and_a_document_that_does_not_compile_run_as_cohorts(resuming):
    world = await make_world(providers=1)
    provider = world.providers[0]
    await world.request()
    after = event_cursor(await latest_event_id()) if resuming else None
    query = (
        "subscription($after: String) { serviceRequestDispatched(after: $after) { cursor "
        "serviceRequest { id } } }"
        if resuming
        # @include steered by a variable: not compiled (a plan per value is not kept for live).
        else "subscription($with: Boolean!) { serviceRequestDispatched { cursor "
        "serviceRequest @include(if: $with) { id } } }"
    )
    async with serving() as port:
        user = SimpleNamespace(id=provider.actor.user_id)
        variables = {"after": after} if resuming else {"with": True}
        socket = (await Socket.open(port, user, query, variables)).read()
        await wait_for(lambda: cohort.stats()["members"] == 1)
        assert multiplex.stats()["members"] == 0
        await socket.close()


async def test_a_colleague_taken_off_the_company_account_receives_nothing_more_on_either_path():
    world = await make_world(providers=1)
    owner = world.providers[0]
    leaver_user = await make_provider_user(owner.membership, email="leaver@mpx.example.com")
    leaver = Provider(owner.membership, await actor_of(leaver_user, world.marketplace), "")
    async with both_ways([owner, leaver]) as (multiplexed, standard):
        await world.request()
        await wait_for(lambda: all(len(_nexts(s)) == 1 for s in [*multiplexed, *standard]))

        await remove_colleague(owner.actor, email=leaver_user.email)
        await asyncio.sleep(1.1)  # the standard path checks a role at most once a second
        await world.request(description="After the leave")
        await wait_for(lambda: len(_nexts(multiplexed[0])) == 2 and len(_nexts(standard[0])) == 2)
        await asyncio.sleep(0.3)

        assert len(_nexts(multiplexed[1])) == len(_nexts(standard[1])) == 1


async def test_a_group_that_cannot_listen_completes_its_subscriber_instead_of_leaving_it_waiting(
    monkeypatch: pytest.MonkeyPatch,
):
    world = await make_world(providers=1)

    @contextlib.asynccontextmanager
    async def deaf(**_kw: Any) -> AsyncIterator[Any]:
        raise ConnectionError("the event bus is out of reach")
        yield  # pragma: no cover

    monkeypatch.setattr(events, "listen", deaf)
    async with serving() as port:
        socket = await _open(port, world.providers[0])
        await wait_for(lambda: any(m["type"] == "complete" for m in socket.messages()))
        assert multiplex.stats() == {"groups": 0, "members": 0}
        await socket.close()
