"""Commission rates: provider+service over provider over the marketplace default, by date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from models.catalog import Service
from models.commission import CommissionRate
from models.marketplace import Marketplace
from models.membership import Membership
from presta import clock
from resolvers.actor import Actor
from resolvers.commission import rate_in_force
from schema.base import decode_id, encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.catalog import make_service
from tests.factories.membership import make_membership, make_provider_user
from tests.support.counting import counting
from tests.support.graphql import execute, ok

SET = """mutation($input: SetProviderCommissionInput!) { setProviderCommission(input: $input) {
  userErrors { field code } commissionRate { rate effectiveFrom serviceId } } }"""
RATE = """query($id: ID!, $service: ID, $on: Date) { node(id: $id) { ... on Membership {
  commissionRate(serviceId: $service, on: $on)
  commissionHistory { rate effectiveFrom serviceId } } } }"""


async def _setup() -> tuple[Marketplace, Actor, Membership, Service]:
    marketplace = await make_marketplace(default_commission_rate=Decimal("15.00"))
    staff = await actor_of(await make_staff(marketplace), marketplace)
    membership = await make_membership(marketplace)
    service = await make_service(marketplace)
    return marketplace, staff, membership, service


def _set(membership, rate: str, on: str, service=None) -> dict[str, dict[str, str]]:
    data = {
        "membershipId": str(encode_id("Membership", membership.id)),
        "rate": rate,
        "effectiveFrom": on,
    }
    if service is not None:
        data["serviceId"] = str(encode_id("Service", service.id))
    return {"input": data}


async def test_the_rate_in_force_prefers_service_then_provider_then_the_marketplace_default():
    _marketplace, staff, membership, service = await _setup()
    other_service = await make_service(_marketplace)
    await ok(SET, _set(membership, "12", "2026-03-01"), actor=staff)
    await ok(SET, _set(membership, "8.5", "2026-06-01", service), actor=staff)
    await ok(SET, _set(membership, "10", "2026-09-01"), actor=staff)

    async def rate(service_id, on: str) -> Decimal:
        return await rate_in_force(membership.id, service_id, date.fromisoformat(on))

    assert await rate(service.id, "2026-02-28") == Decimal("15.00")
    assert await rate(service.id, "2026-03-01") == Decimal("12.00")
    assert await rate(service.id, "2026-06-01") == Decimal("8.50")
    assert await rate(service.id, "2026-12-01") == Decimal("8.50")
    assert await rate(other_service.id, "2026-07-01") == Decimal("12.00")
    assert await rate(other_service.id, "2026-12-01") == Decimal("10.00")
    assert await rate(None, "2026-12-01") == Decimal("10.00")


async def test_the_provider_file_shows_the_rate_and_the_whole_history_to_staff_and_provider():
    marketplace, staff, membership, service = await _setup()
    provider = await actor_of(await make_provider_user(membership), marketplace)
    await ok(SET, _set(membership, "12", "2026-03-01"), actor=staff)
    await ok(SET, _set(membership, "9", "2026-04-01", service), actor=staff)
    gid = str(encode_id("Membership", membership.id))
    service_gid = str(encode_id("Service", service.id))

    for viewer in (staff, provider):
        data = await ok(RATE, {"id": gid, "service": service_gid, "on": "2026-05-01"}, actor=viewer)
        assert data["node"]["commissionRate"] == "9.00"
        assert data["node"]["commissionHistory"] == [
            {"rate": "9.00", "effectiveFrom": "2026-04-01", "serviceId": service_gid},
            {"rate": "12.00", "effectiveFrom": "2026-03-01", "serviceId": None},
        ]


@pytest.mark.parametrize("rate", ["-1", "100.01", "NaN"])
async def test_a_rate_outside_0_to_100_is_refused_and_nothing_is_stored(rate):
    _marketplace, staff, membership, _service = await _setup()

    data = await ok(SET, _set(membership, rate, "2026-03-01"), actor=staff)

    assert data["setProviderCommission"]["userErrors"] == [
        {"field": "rate", "code": "RATE_OUT_OF_RANGE"}
    ]
    assert not await CommissionRate.exists()


async def test_a_service_of_another_marketplace_is_not_found():
    _marketplace, staff, membership, _service = await _setup()
    foreign = await make_service(await make_marketplace())

    data = await ok(SET, _set(membership, "5", "2026-03-01", foreign), actor=staff)

    assert data["setProviderCommission"]["userErrors"] == [
        {"field": "serviceId", "code": "NOT_FOUND"}
    ]


async def test_a_provider_cannot_set_its_own_commission():
    marketplace, _staff, membership, _service = await _setup()
    provider = await actor_of(await make_provider_user(membership), marketplace)

    result = await execute(SET, _set(membership, "1", "2026-03-01"), actor=provider)

    assert result.codes == ["FORBIDDEN"]
    assert not await CommissionRate.exists()


PROVIDER_RATES = """{ providers(first: 50) { nodes { id commissionRate
  early: commissionRate(on: "2026-03-15") } } }"""


async def test_the_providers_list_reads_every_rate_in_force_in_the_same_statements_at_3_and_12():
    marketplace = await make_marketplace(default_commission_rate=Decimal("15.00"))
    staff = await actor_of(await make_staff(marketplace), marketplace)

    async def listed() -> tuple[int, dict[str, dict[str, str]]]:
        fewest: int | None = None
        rows: dict[str, dict[str, str]] = {}
        for _ in range(3):  # a loader batch split by the event loop is noise, not N+1
            with counting() as statements:
                data = await ok(PROVIDER_RATES, actor=staff, executor="standard")
            fewest = len(statements) if fewest is None else min(fewest, len(statements))
            rows = {n["id"]: n for n in data["providers"]["nodes"]}
        assert fewest is not None
        return fewest, rows

    async def add_providers(count: int) -> None:
        for i in range(count):
            membership = await make_membership(marketplace)
            if i % 2:
                await ok(SET, _set(membership, str(10 + i), "2026-03-01"), actor=staff)
                await ok(SET, _set(membership, "7", "2026-06-01"), actor=staff)

    await add_providers(3)
    few, _ = await listed()
    await add_providers(9)
    many, rows = await listed()

    assert few == many
    assert len(rows) == 12
    for gid, row in rows.items():
        membership_id = int(decode_id(gid, "Membership"))
        today = await rate_in_force(membership_id, None, clock.now().date())
        early = await rate_in_force(membership_id, None, date(2026, 3, 15))
        assert (row["commissionRate"], row["early"]) == (f"{today:.2f}", f"{early:.2f}")
    assert {row["early"] for row in rows.values()} >= {"15.00", "11.00"}
