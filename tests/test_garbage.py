"""Operations leave nothing for the cyclic garbage collector: what they allocate is freed by
reference counting as soon as they end.

Objects in reference cycles wait for a collection; under load they reach the oldest generation
and its full collections, which walk every live object (85-150 ms pauses with 16 dashboards
in flight, every second, before graphql-core's executor and our loaders stopped holding
themselves).
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.queries import PROVIDER_DASHBOARD, PROVIDERS_SCREEN
from presta import jobs
from tests.factories.screens import provider_with, staff_with
from tests.support.graphql import ok

OURS = ("graphql", "strawberry", "schema", "resolvers", "models", "presta", "tortoise", "asyncpg")


@contextmanager
def cyclic_garbage() -> Iterator[list[Any]]:
    """The objects of ours that only the cyclic collector would have freed, in the block."""
    found: list[Any] = []
    gc.collect()
    # Whatever exists now stays alive through the block: what an earlier test left behind
    # (an exception, a finished job's transaction) cannot be counted as the block's garbage.
    earlier = gc.get_objects()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
        found += [o for o in gc.garbage if type(o).__module__.startswith(OURS)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        del earlier


async def _leaves_no_cycles(run: Callable[[], Awaitable[Any]]) -> None:
    await run()  # caches filled (parsed document, validation)
    await jobs.drain()  # no job of an earlier test runs beside the block
    with cyclic_garbage() as garbage:
        for _ in range(3):
            await run()
    assert [type(o).__qualname__ for o in garbage] == []


async def test_the_provider_dashboard_leaves_no_reference_cycles() -> None:
    actor = await provider_with(5)
    await _leaves_no_cycles(lambda: ok(PROVIDER_DASHBOARD, actor=actor))
    await _leaves_no_cycles(lambda: ok(PROVIDER_DASHBOARD, actor=actor, executor="standard"))


async def test_the_providers_screen_leaves_no_reference_cycles() -> None:
    actor = await staff_with(5)
    await _leaves_no_cycles(lambda: ok(PROVIDERS_SCREEN, actor=actor))
    await _leaves_no_cycles(lambda: ok(PROVIDERS_SCREEN, actor=actor, executor="standard"))


async def test_a_mutation_and_its_user_errors_leave_no_reference_cycles() -> None:
    from schema.base import encode_id
    from tests.factories.dispatch import make_world

    world = await make_world(providers=3)
    create = """mutation($input: CreateServiceRequestInput!) { createServiceRequest(input: $input) {
      userErrors { code } serviceRequest { id status } } }"""
    good = {"serviceId": str(encode_id("Service", world.service.id)), "postalCode": "75011",
            "city": "Paris", "description": "Three rooms"}  # fmt: skip
    bad = {**good, "postalCode": "not a code"}

    async def run() -> None:
        assert (await ok(create, {"input": good}, actor=world.client))["createServiceRequest"][
            "serviceRequest"
        ]
        assert (await ok(create, {"input": bad}, actor=world.client))["createServiceRequest"][
            "userErrors"
        ]

    await _leaves_no_cycles(run)
